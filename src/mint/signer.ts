// Signs JWTs with the service's active signing key: registry tokens (mint.ts) and registry
// credentials (src/credentials/) share the key, its `kid` and this code, so a key rotation moves
// both. The key is asked for on every signature: a reload may have switched it (key-set-holder.ts).
//
// The JWS is put together here and signed with node:crypto's one-shot sign() on the KeyObject,
// on the calling thread: jose's SignJWT goes through WebCrypto, which hands every signature to
// libuv's thread pool and back; for RSA-2048 that round trip cost ~0.14 ms of CPU on top of the
// ~0.26 ms signature (docs/performance.md). A key's protected header never changes, so it is
// encoded once per key. The token is byte for byte what SignJWT writes (test/mint/mint.test.ts).
// An ECDSA signature is made as DER and turned into the JOSE (r || s) form by ecdsa-sig-formatter:
// asking node:crypto for `ieee-p1363` costs ~40 µs a signature more (docs/performance.md).
import { sign, type KeyObject } from 'node:crypto';
import { derToJose } from 'ecdsa-sig-formatter';
import type { SigningAlgorithm, SigningKey } from './signing-key.ts';

export type Signer = (payload: object) => string;

const DIGEST: Record<SigningAlgorithm, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

interface Prepared {
  readonly encodedHeader: string;
  readonly digest: string;
  readonly key: KeyObject;
  /** The JOSE algorithm when the signature is ECDSA (made as DER); undefined for RSA. */
  readonly ecdsa: string | undefined;
}

/**
 * `typ` names what is signed; `x5c` puts the certificate chain in the header (registries find
 * the key by it; nothing else needs it, so credentials stay short).
 */
export function createSigner(activeKey: () => SigningKey, options: { typ: string; x5c: boolean }): Signer {
  const prepared = new WeakMap<SigningKey, Prepared>();
  const prepare = (key: SigningKey): Prepared => {
    const header = {
      alg: key.algorithm,
      typ: options.typ,
      kid: key.keyId,
      ...(options.x5c && key.x5c.length > 0 ? { x5c: [...key.x5c] } : {}),
    };
    return {
      encodedHeader: Buffer.from(JSON.stringify(header)).toString('base64url'),
      digest: DIGEST[key.algorithm],
      // RSASSA-PKCS1-v1_5, or ECDSA (DER, converted below).
      key: key.privateKey,
      ecdsa: key.algorithm.startsWith('ES') ? key.algorithm : undefined,
    };
  };
  return (payload) => {
    const key = activeKey();
    let ready = prepared.get(key);
    if (ready === undefined) {
      ready = prepare(key);
      prepared.set(key, ready);
    }
    const input = `${ready.encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = sign(ready.digest, Buffer.from(input), ready.key);
    return `${input}.${ready.ecdsa === undefined ? signature.toString('base64url') : derToJose(signature, ready.ecdsa)}`;
  };
}
