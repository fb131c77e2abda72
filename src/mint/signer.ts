// Signs JWTs with the service's active signing key: registry tokens (mint.ts) and registry
// credentials (src/credentials/) share the key, its `kid` and this code, so a key rotation moves
// both. The key is asked for on every signature: a reload may have switched it (key-set-holder.ts).
import { SignJWT, type JWTPayload } from 'jose';
import type { SigningKey } from './signing-key.ts';

export type Signer = (payload: JWTPayload) => Promise<string>;

/**
 * `typ` names what is signed; `x5c` puts the certificate chain in the header (registries find
 * the key by it; nothing else needs it, so credentials stay short).
 */
export function createSigner(activeKey: () => SigningKey, options: { typ: string; x5c: boolean }): Signer {
  const headers = new WeakMap<SigningKey, { alg: string; typ: string; kid: string; x5c?: string[] }>();
  return (payload) => {
    const key = activeKey();
    let header = headers.get(key);
    if (header === undefined) {
      header = {
        alg: key.algorithm,
        typ: options.typ,
        kid: key.keyId,
        ...(options.x5c && key.x5c.length > 0 ? { x5c: [...key.x5c] } : {}),
      };
      headers.set(key, header);
    }
    return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
  };
}
