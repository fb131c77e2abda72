// Detached JWS (RFC 7515 appendix F): `header..signature` over a file's bytes, signed with the
// service's active key. Deterministic, so a rebuilt bundle has the same signature file: RSA
// PKCS#1 v1.5 is deterministic by construction; ECDSA uses RFC 6979 nonces (@noble/curves),
// where Node's signer draws a random one. Verification goes through jose against a JWKS the
// operator brings, never one from the bundle itself.
import { createHash, sign as nodeSign } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { flattenedVerify, importJWK, type JWK } from 'jose';
import type { SigningKey } from '../mint/signing-key.ts';

/** Explicit type (RFC 8725 §3.11): a manifest signature is never mistaken for a registry token. */
export const MANIFEST_JWS_TYPE = 'registry-token-manifest+jws';

const CURVES = { ES256: p256, ES384: p384, ES512: p521 } as const;
const ALLOWED = new Set(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512']);

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');
export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function signatureOf(input: Buffer, key: SigningKey): Buffer {
  if (key.algorithm.startsWith('RS')) return nodeSign(`sha${key.algorithm.slice(2)}`, input, key.privateKey);
  const curve = CURVES[key.algorithm as keyof typeof CURVES];
  const d = (key.privateKey.export({ format: 'jwk' }) as JWK).d!;
  // Prehashed with the curve's own hash (SHA-256/384/512), r||s: exactly the JWS ES* form.
  return Buffer.from(curve.sign(input, Buffer.from(d, 'base64url'), { prehash: true, format: 'compact' }));
}

/**
 * The protected header also carries the payload's SHA-256, so a verifier can tell a changed
 * payload from a changed signature and name the file that was altered.
 */
export function signDetached(payload: Uint8Array, key: SigningKey): string {
  // Members in a fixed order: the header's bytes are part of what is reproduced.
  const header = { alg: key.algorithm, kid: key.keyId, typ: MANIFEST_JWS_TYPE, payload_sha256: sha256Hex(payload) };
  const protectedHeader = b64url(JSON.stringify(header));
  const signingInput = Buffer.from(`${protectedHeader}.${b64url(payload)}`, 'ascii');
  return `${protectedHeader}..${b64url(signatureOf(signingInput, key))}`;
}

export type DetachedVerdict =
  | { readonly ok: true; readonly kid: string; readonly alg: string }
  /** `signature`: the JWS itself is malformed or does not verify; `payload`: the payload is not the one signed. */
  | { readonly ok: false; readonly culprit: 'signature' | 'payload'; readonly problem: string };

export async function verifyDetached(jws: string, payload: Uint8Array, jwks: { keys: readonly JWK[] }): Promise<DetachedVerdict> {
  const fail = (culprit: 'signature' | 'payload', problem: string): DetachedVerdict => ({ ok: false, culprit, problem });
  // Exactly as written (one final LF) and canonical base64url: a decoder ignores the unused
  // low bits of the last character, so a changed character there would otherwise go unnoticed.
  const match = /^([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)\n$/.exec(jws);
  if (match === null) return fail('signature', 'not a detached JWS (header..signature and one final newline)');
  const parts = [match[1]!, '', match[2]!];
  if (parts.some((part) => Buffer.from(part, 'base64url').toString('base64url') !== part)) return fail('signature', 'not canonical base64url');
  let header: { alg?: unknown; kid?: unknown; typ?: unknown; payload_sha256?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as typeof header;
  } catch {
    return fail('signature', 'its header is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null) return fail('signature', 'its header is not a JSON object');
  if (header.typ !== MANIFEST_JWS_TYPE) return fail('signature', `its header typ is not ${MANIFEST_JWS_TYPE}`);
  if (typeof header.alg !== 'string' || !ALLOWED.has(header.alg)) return fail('signature', `its alg ${String(header.alg)} is not one of ${[...ALLOWED].join(', ')}`);
  if (typeof header.kid !== 'string') return fail('signature', 'its header names no kid');
  if (typeof header.payload_sha256 === 'string' && header.payload_sha256 !== sha256Hex(payload)) {
    return fail('payload', 'its SHA-256 is not the one the signature covers');
  }
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  if (jwk === undefined) return fail('signature', `it is signed by kid ${header.kid}, which the given JWKS does not hold`);
  if (jwk.alg !== undefined && jwk.alg !== header.alg) return fail('signature', `its alg ${header.alg} is not the ${jwk.alg} of kid ${header.kid} in the given JWKS`);
  try {
    const key = await importJWK({ ...jwk, alg: header.alg }, header.alg);
    await flattenedVerify({ protected: parts[0]!, payload: b64url(payload), signature: parts[2]! }, key, { algorithms: [header.alg] });
  } catch {
    return fail('signature', `the signature does not verify with kid ${header.kid}`);
  }
  return { ok: true, kid: header.kid, alg: header.alg };
}
