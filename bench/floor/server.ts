// The floor of the stack itself (`npm run bench -- --floor`): the least a GET /token exchange can
// cost in Node on this machine, to tell the service's own overhead from what Node, the kernel
// and the signature cost anyway. Hand-written on purpose and never shipped: node:http and
// node:crypto only, no framework, no metrics, no log line, no rate limit, no plan or licence,
// the replay cache a Map of each worker's own. What it keeps is what no token server can drop:
// the OpTok checked (cached after its first use, as the service does), the DPoP proof's
// signature, claims, key binding and jti, the registry token signed with the same key and header,
// one ledger line per token chained by SHA-256 and durable (O_DSYNC, one write per event-loop
// turn) before the answer, and the same JSON answer.
//
//   node bench/floor/server.ts serve --config FILE          (the bench's own configuration)
//   node bench/floor/server.ts ledger verify --path DIR --json
import cluster from 'node:cluster';
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { derToJose, joseToDer } from 'ecdsa-sig-formatter';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { load } from 'js-yaml';

interface BenchConfig {
  server: { host: string; port: number; workers?: number };
  authority: { issuer: string; audiences: string[] };
  signing: { issuer: string; keyPath: string; certificatePath: string; lifetimeSeconds: number };
  registry: { allowedServices: string[] };
  ledger: { path: string };
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const fromB64 = (value: string) => JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Record<string, unknown>;
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

const [command, ...rest] = process.argv.slice(2);
if (command === 'ledger') {
  const dir = rest[rest.indexOf('--path') + 1]!;
  let records = 0;
  let ok = true;
  for (const worker of readdirSync(dir).filter((name) => name.startsWith('worker-'))) {
    let prev = '';
    for (const line of readFileSync(join(dir, worker, 'ledger-1.jsonl'), 'utf8').split('\n')) {
      if (line === '') continue;
      const record = JSON.parse(line) as { prev: string; hash: string };
      const { hash, ...body } = record;
      ok &&= record.prev === prev && hash === sha256(JSON.stringify(body));
      prev = hash;
      records++;
    }
  }
  process.stdout.write(JSON.stringify({ ok, records }));
  process.exit(ok ? 0 : 1);
}

const config = load(readFileSync(rest[rest.indexOf('--config') + 1]!, 'utf8')) as BenchConfig;
const workers = config.server.workers ?? 1;

if (cluster.isPrimary && workers > 1) {
  for (let slot = 1; slot <= workers; slot++) cluster.fork({ FLOOR_SLOT: String(slot) });
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    let alive = workers;
    cluster.on('exit', () => --alive === 0 && process.exit(0));
  };
  process.once('SIGTERM', stop);
} else {
  serve(Number(process.env.FLOOR_SLOT ?? 1));
}

function serve(slot: number): void {
  const publicUrl = `http://127.0.0.1:${config.server.port}`;
  const htu = `${publicUrl}/token`;
  const key = createPrivateKey(readFileSync(config.signing.keyPath));
  const certificate = new X509Certificate(readFileSync(config.signing.certificatePath));
  const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const header = b64(JSON.stringify({ alg, typ: 'JWT', kid: sha256(createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64')), x5c: [certificate.raw.toString('base64')] }));
  const jwks = fetch(`${config.authority.issuer}/.well-known/openid-configuration`)
    .then((answer) => answer.json() as Promise<{ jwks_uri: string }>)
    .then((discovery) => createRemoteJWKSet(new URL(discovery.jwks_uri)));

  const opToks = new Map<string, { payload: JWTPayload; ath: string }>();
  const proofKeys = new Map<string, { key: KeyObject; jkt: string }>();
  const seen = new Map<string, number>();

  const dir = join(config.ledger.path, `worker-${slot}`);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, 'ledger-1.jsonl'), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC);
  let prev = '';
  let group: { line: string; respond: () => void }[] = [];
  const record = (body: Record<string, unknown>, respond: () => void) => {
    const chained = { ...body, prev };
    prev = sha256(JSON.stringify(chained));
    if (group.length === 0) setImmediate(flush);
    group.push({ line: `${JSON.stringify({ ...chained, hash: prev })}\n`, respond });
  };
  const flush = () => {
    const batch = group;
    group = [];
    const bytes = Buffer.from(batch.map((entry) => entry.line).join(''));
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    for (const entry of batch) entry.respond();
  };

  const refuse = (response: ServerResponse, status: number, message: string) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message }] }));
  };

  const proofKey = (jwk: JsonWebKey) => {
    const id = `${jwk.x}.${jwk.y}`;
    let known = proofKeys.get(id);
    if (known === undefined) {
      known = { key: createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }, format: 'jwk' }), jkt: sha256(JSON.stringify({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y })) };
      proofKeys.set(id, known);
    }
    return known;
  };

  async function exchange(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', publicUrl);
    const authorization = request.headers.authorization ?? '';
    const proof = request.headers.dpop;
    if (url.pathname !== '/token' || !authorization.startsWith('DPoP ') || typeof proof !== 'string') return refuse(response, 401, 'DPoP required');
    const token = authorization.slice(5);
    let opTok = opToks.get(token);
    if (opTok === undefined) {
      const { payload } = await jwtVerify(token, await jwks, { issuer: config.authority.issuer, audience: config.authority.audiences });
      opTok = { payload, ath: sha256(token) };
      opToks.set(token, opTok);
    }
    const now = Math.floor(Date.now() / 1000);
    if ((opTok.payload.exp ?? 0) < now) return refuse(response, 401, 'expired');

    const [h, p, s] = proof.split('.');
    const proofHeader = fromB64(h!);
    const claims = fromB64(p!);
    if (proofHeader.typ !== 'dpop+jwt' || proofHeader.alg !== 'ES256') return refuse(response, 401, 'bad proof header');
    const { key: publicKey, jkt } = proofKey(proofHeader.jwk as JsonWebKey);
    if (!verify('sha256', Buffer.from(`${h}.${p}`), publicKey, joseToDer(s!, 'ES256'))) return refuse(response, 401, 'bad proof signature');
    if (claims.htm !== 'GET' || claims.htu !== htu || claims.ath !== opTok.ath) return refuse(response, 401, 'proof does not match');
    if (typeof claims.iat !== 'number' || Math.abs(claims.iat - now) > 65) return refuse(response, 401, 'proof too old');
    if ((opTok.payload.cnf as { jkt?: string } | undefined)?.jkt !== jkt) return refuse(response, 401, 'proof key not bound');
    const replayKey = `${jkt}:${String(claims.jti)}`;
    if (seen.has(replayKey)) return refuse(response, 401, 'replayed');
    seen.set(replayKey, now + 65);
    if (seen.size > 200_000) for (const [k, until] of seen) if (until < now) seen.delete(k);

    const service = url.searchParams.get('service');
    if (service === null || !config.registry.allowedServices.includes(service)) return refuse(response, 400, 'unknown service');
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      return type === 'repository' && name !== undefined && name.startsWith('team/') ? [{ type, name, actions: (actions ?? '').split(',') }] : [];
    });

    const jti = randomUUID();
    const lifetime = config.signing.lifetimeSeconds;
    const body = { iss: config.signing.issuer, sub: opTok.payload.sub, aud: service, exp: now + lifetime, nbf: now, iat: now, jti, access };
    const input = `${header}.${b64(JSON.stringify(body))}`;
    const signature = sign('sha256', Buffer.from(input), key);
    const registryToken = `${input}.${alg === 'ES256' ? derToJose(signature, 'ES256') : signature.toString('base64url')}`;
    const issuedAt = new Date(now * 1000).toISOString();
    record({ at: issuedAt, outcome: 'issued', sub: opTok.payload.sub, jti, service, access }, () => {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify({ token: registryToken, access_token: registryToken, expires_in: lifetime, issued_at: issuedAt }));
    });
  }

  const server = createServer((request, response) => {
    exchange(request, response).catch(() => refuse(response, 401, 'invalid token'));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(config.server.port, config.server.host);
  process.once('SIGTERM', () => {
    server.close(() => {
      closeSync(fd);
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}
