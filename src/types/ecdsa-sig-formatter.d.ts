// ecdsa-sig-formatter ships no types: the two functions this service calls.
declare module 'ecdsa-sig-formatter' {
  /** A DER ECDSA-Sig-Value as the JOSE (r || s) form, base64url. */
  export function derToJose(signature: Buffer | string, alg: string): string;
  /** A JOSE (r || s) signature (bytes or base64url) as DER. Throws when its length does not fit `alg`. */
  export function joseToDer(signature: Buffer | string, alg: string): Buffer;
}
