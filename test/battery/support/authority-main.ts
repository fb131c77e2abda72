// Entry point of a real development Authority in its own process, so tests can stop it with
// real signals (SIGTERM, SIGKILL, SIGSTOP/SIGCONT) and restart it on the same port.
//
//   node test/battery/support/authority-main.ts --port N --key FILE [--fail-jwks]
//
// The signing key lives in FILE (a private JWK, created on first start): a restart with the
// same file keeps the keys, a restart with another file is a key rotation. Prints one line
// `AUTHORITY {"issuer":...,"kid":...}` once it serves, and `HIT <path>` for every discovery or
// JWKS request (so a test can count fetches). SIGUSR1 toggles JWKS answers 503; SIGUSR2
// toggles a discovery document that is not JSON.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { startAuthority } from '../../../src/dev/authority.ts';
import { AUDIENCE } from '../../support/stack.ts';
import { BATTERY_CLIENTS } from './clients.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    key: { type: 'string' },
    'fail-jwks': { type: 'boolean', default: false },
  },
});
if (values.key === undefined) throw new Error('--key FILE is required');

async function signingKey(path: string): Promise<JWK> {
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as JWK;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
  writeFileSync(path, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}

let failJwks = values['fail-jwks'];
let htmlDiscovery = false;
const key = await signingKey(values.key);
const authority = await startAuthority({
  audience: AUDIENCE,
  clients: BATTERY_CLIENTS,
  port: Number(values.port),
  signingKey: key,
  accessTokenTtlSeconds: 600,
  intercept(req, res) {
    const path = (req.url ?? '/').split('?')[0]!;
    const isJwks = path === '/jwks';
    const isDiscovery = path === '/.well-known/openid-configuration';
    if (!isJwks && !isDiscovery) return false;
    // The Authority's own client (oauth4webapi, at start) fetches discovery too: it is counted as well.
    process.stdout.write(`HIT ${path}\n`);
    if (isJwks && failJwks) {
      res.statusCode = 503;
      res.end('{"error":"temporarily_unavailable"}');
      return true;
    }
    if (isDiscovery && htmlDiscovery) {
      res.statusCode = 200;
      res.setHeader('content-type', 'text/html');
      res.end('<html><body>maintenance</body></html>');
      return true;
    }
    return false;
  },
});
process.on('SIGUSR1', () => {
  failJwks = !failJwks;
  process.stdout.write(`MODE failJwks=${failJwks}\n`);
});
process.on('SIGUSR2', () => {
  htmlDiscovery = !htmlDiscovery;
  process.stdout.write(`MODE htmlDiscovery=${htmlDiscovery}\n`);
});
const stop = () => {
  void authority.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const { d: _private, ...publicJwk } = key;
const kid = await calculateJwkThumbprint(publicJwk);
process.stdout.write(`AUTHORITY ${JSON.stringify({ issuer: authority.issuer, kid, pid: process.pid })}\n`);
