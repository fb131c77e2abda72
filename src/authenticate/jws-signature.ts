// JWS signatures checked with node:crypto's one-shot verify() on the calling thread. jose checks
// them through WebCrypto, which sends every verify to libuv's thread pool and back: for a P-256
// proof that round trip cost more CPU (~0.09 ms) than the verify itself (~0.08 ms), and under a
// flood the pool's queue is where a valid client's request waited (docs/performance.md).
// Used for DPoP proofs, whose keys the proof-key cache holds as KeyObjects; the Authority's
// OpToks keep jose's path and are verified once per token (verified-tokens.ts).
//
// The KeyObject goes to verify() bare and an ECDSA signature as DER: Node's own handling of a
// `{ key, dsaEncoding: 'ieee-p1363' }` argument cost ~45 µs more per P-256 verify than the
// verify itself takes bare (77 against 122 µs, docs/performance.md), so the JOSE (r || s) form
// is turned into DER here by ecdsa-sig-formatter, which is a few microseconds.
import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { joseToDer } from 'ecdsa-sig-formatter';

interface AlgorithmSpec {
  /** Digest for sign/verify; null for EdDSA, which hashes internally. */
  readonly digest: string | null;
  /** What the key must be: asymmetricKeyType, and the curve for EC. */
  readonly keyTypes: readonly string[];
  readonly curve?: string;
  /** RSASSA-PSS with a salt as long as the digest (RFC 7518 section 3.5). */
  readonly pss?: number;
}

const SPECS: Record<string, AlgorithmSpec> = {
  RS256: { digest: 'sha256', keyTypes: ['rsa'] },
  RS384: { digest: 'sha384', keyTypes: ['rsa'] },
  RS512: { digest: 'sha512', keyTypes: ['rsa'] },
  PS256: { digest: 'sha256', keyTypes: ['rsa', 'rsa-pss'], pss: 32 },
  PS384: { digest: 'sha384', keyTypes: ['rsa', 'rsa-pss'], pss: 48 },
  PS512: { digest: 'sha512', keyTypes: ['rsa', 'rsa-pss'], pss: 64 },
  ES256: { digest: 'sha256', keyTypes: ['ec'], curve: 'prime256v1' },
  ES384: { digest: 'sha384', keyTypes: ['ec'], curve: 'secp384r1' },
  ES512: { digest: 'sha512', keyTypes: ['ec'], curve: 'secp521r1' },
  EdDSA: { digest: null, keyTypes: ['ed25519', 'ed448'] },
  Ed25519: { digest: null, keyTypes: ['ed25519'] },
};

/** Byte length of an (r || s) signature per curve: anything else is refused before OpenSSL sees it. */
const EC_SIGNATURE_BYTES: Record<string, number> = { prime256v1: 64, secp384r1: 96, secp521r1: 132 };

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface SignatureKey {
  readonly key: KeyObject;
  readonly alg: string;
  readonly verify: (signingInput: string, signature: string) => boolean;
}

/**
 * Imports a public JWK for `alg`; throws unless the key fits the algorithm (type, curve, RSA of
 * at least 2048 bits, as jose requires).
 */
export function importSignatureKey(jwk: JsonWebKey, alg: string): SignatureKey {
  const spec = SPECS[alg];
  if (spec === undefined) throw new TypeError(`unsupported algorithm ${alg}`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const type = key.asymmetricKeyType ?? '';
  if (!spec.keyTypes.includes(type)) throw new TypeError(`a ${type} key cannot verify ${alg}`);
  const details = key.asymmetricKeyDetails ?? {};
  if (spec.curve !== undefined && details.namedCurve !== spec.curve) throw new TypeError(`${alg} needs the curve ${spec.curve}`);
  if (type.startsWith('rsa') && (details.modulusLength ?? 0) < 2048) throw new TypeError(`${alg} needs an RSA key of at least 2048 bits`);
  const ecBytes = spec.curve === undefined ? undefined : EC_SIGNATURE_BYTES[spec.curve];
  const options = spec.pss !== undefined ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss } : key;
  return {
    key,
    alg,
    verify(signingInput, signature) {
      if (!BASE64URL.test(signature)) return false;
      let bytes: Buffer = Buffer.from(signature, 'base64url');
      if (ecBytes !== undefined) {
        if (bytes.length !== ecBytes) return false;
        bytes = joseToDer(bytes, alg);
      }
      return verify(spec.digest, Buffer.from(signingInput), options, bytes);
    },
  };
}
