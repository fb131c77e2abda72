// DPoP proofs for the load generator, signed with node:crypto's synchronous ES256 (P-256,
// IEEE P1363 signature), so making one costs ~40 µs of the generator's CPU and no thread-pool
// round trip. Each proof has a fresh jti and iat: the service refuses a replayed one.
import { createHash, createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface LoadClient {
  /** The DPoP-bound OpTok. */
  readonly token: string;
  /** Private JWK of the client's DPoP key (P-256). */
  readonly privateJwk: JsonWebKey;
  /** `/token?service=...&scope=...` */
  readonly path: string;
}

export interface Request {
  readonly path: string;
  readonly headers: Record<string, string>;
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export interface ProofMaker {
  /** The next request, round robin over the clients, with a proof made now. */
  next(): Request;
}

export function proofMaker(clients: readonly LoadClient[], htu: string): ProofMaker {
  const prepared = clients.map((client) => {
    const key: KeyObject = createPrivateKey({ key: client.privateJwk, format: 'jwk' });
    const { kty, crv, x, y } = client.privateJwk;
    const header = b64(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty, crv, x, y } }));
    const ath = createHash('sha256').update(client.token).digest('base64url');
    return { key, header, ath, path: client.path, authorization: `DPoP ${client.token}` };
  });
  let turn = 0;
  return {
    next() {
      const client = prepared[turn++ % prepared.length]!;
      const payload = b64(JSON.stringify({ htm: 'GET', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: client.ath }));
      const input = `${client.header}.${payload}`;
      const signature = sign('sha256', Buffer.from(input), { key: client.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      return { path: client.path, headers: { authorization: client.authorization, dpop: `${input}.${signature}` } };
    },
  };
}
