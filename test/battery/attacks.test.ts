// The attack battery: a hostile client against the service as a real process and a real
// Authority in its own process (plus a second, untrusted one). Every defect of issue 7 and the
// classic attacks the service already refused. Each case asserts the status, the reason code,
// the OAuth error, the Docker `errors[0].code`, and that a valid exchange is still served.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import { callWithProof, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { freePort, writeConfig } from '../support/process.ts';
import { selfSigned, type IssuedCertificate } from '../support/pki.ts';
import {
  Battery,
  SERVICE,
  exchange,
  ledgerExport,
  ledgerVerify,
  opTokClaims,
  opTokWithCertificate,
  opTokWithDpop,
  schemaAccepts,
  serveExpectingRefusal,
  signWithAuthorityKey,
  sleep,
  type AuthorityProcess,
  type BatteryService,
} from './support/harness.ts';
import { challenges, expectRefusal, expectServes, invalidProof, invalidToken } from './support/expect.ts';

const battery = new Battery('attacks');
let trusted: AuthorityProcess;
let untrusted: AuthorityProcess;
/** The service under attack: default configuration apart from the plans below. */
let service: BatteryService;
const keys = {} as Record<'team' | 'other' | 'operator' | 'runner' | 'run', KeyPair>;
const jkt = {} as Record<keyof typeof keys, string>;
let teamTok: string;
let runnerTok: string;
let runTok: string;
let mtlsCert: IssuedCertificate;
let mtlsTok: string;

// Each attack comes from its own loopback address, as unrelated attackers would; the valid
// exchange after it from 127.0.0.1.
let nextAttacker = 1;
const attacker = () => `127.0.1.${(nextAttacker++ % 250) + 1}`;

const ADMIN = 'registry.token.admin';

function withCiPlan(config: Record<string, unknown>): void {
  const plans = config.plans as Record<string, unknown[]>;
  plans.ci = [
    { repository: 'ci/{clientId}-*', actions: ['pull', 'push'] },
    { repository: 't-{tenant}-*/app', actions: ['pull'] },
  ];
}

beforeAll(async () => {
  [trusted, untrusted] = await Promise.all([
    battery.authority({ keyFile: join(battery.dir, 'trusted.jwk') }),
    battery.authority({ keyFile: join(battery.dir, 'untrusted.jwk') }),
  ]);
  service = await battery.service('main', trusted, withCiPlan);
  for (const name of Object.keys({ team: 0, other: 0, operator: 0, runner: 0, run: 0 }) as (keyof typeof keys)[]) {
    keys[name] = await newDpopKeys();
    jkt[name] = await calculateJwkThumbprint(await exportJWK(keys[name].publicKey));
  }
  [teamTok, runnerTok, runTok] = await Promise.all([
    opTokWithDpop(trusted.issuer, 'team-dpop', keys.team),
    opTokWithDpop(trusted.issuer, 'runner', keys.runner),
    opTokWithDpop(trusted.issuer, 'run', keys.run),
  ]);
  mtlsCert = await selfSigned({ commonName: 'team-mtls' });
  mtlsTok = await opTokWithCertificate(trusted.issuer, 'team-mtls', mtlsCert.certPem);
}, 60_000);

afterAll(async () => {
  await battery.close();
}, 30_000);

/** A token for team-dpop signed by the trusted Authority's key, with these claims changed. */
const forged = (extra: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  signWithAuthorityKey(trusted, opTokClaims(trusted.issuer, 'team-dpop', jkt.team, extra), header);

const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('classic attacks (already refused: regression)', () => {
  it('an unsigned OpTok (alg none) with the right claims and a valid proof', { timeout: 20_000 }, async () => {
    const token = `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(opTokClaims(trusted.issuer, 'team-dpop', jkt.team, { 'stellaops:plan': 'operator' }))}.`;
    expectRefusal(await exchange(service, token, keys.team, { scope: ['repository:secret/x:pull'], localAddress: attacker() }), invalidToken);
    await expectServes(service, teamTok, keys.team);
  });

  it('an HS256 OpTok keyed with the Authority’s public key (algorithm confusion)', { timeout: 20_000 }, async () => {
    const publicJwk = (await (await fetch(`${trusted.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    const claims = opTokClaims(trusted.issuer, 'team-dpop', jkt.team, { 'stellaops:plan': 'operator' });
    for (const secret of [JSON.stringify(publicJwk.keys[0]), JSON.stringify(publicJwk)]) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: trusted.kid }).sign(new TextEncoder().encode(secret));
      const body = expectRefusal(await exchange(service, token, keys.team, { localAddress: attacker() }), invalidToken);
      expect(body.detail).toMatch(/algorithm/);
    }
    await expectServes(service, teamTok, keys.team);
  });

  it('jku, x5u and an embedded jwk in the OpTok header pointing at the attacker’s keys', { timeout: 20_000 }, async () => {
    const untrustedJwks = (await (await fetch(`${untrusted.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    const claims = opTokClaims(trusted.issuer, 'team-dpop', jkt.team, { 'stellaops:plan': 'operator' });
    const headers: Record<string, unknown>[] = [
      { kid: untrusted.kid, jku: `${untrusted.issuer}/jwks` },
      { kid: untrusted.kid, x5u: `${untrusted.issuer}/cert.pem` },
      { kid: untrusted.kid, jwk: untrustedJwks.keys[0] },
      // the trusted kid, but the attacker's key embedded: the embedded key must not be used
      { kid: trusted.kid, jwk: untrustedJwks.keys[0] },
    ];
    for (const header of headers) {
      const token = await signWithAuthorityKey(untrusted, claims, header);
      expectRefusal(await exchange(service, token, keys.team, { localAddress: attacker() }), invalidToken);
    }
    await expectServes(service, teamTok, keys.team);
  });

  it('a real OpToken of the untrusted Authority, same client, same DPoP key', { timeout: 20_000 }, async () => {
    const foreign = await opTokWithDpop(untrusted.issuer, 'team-dpop', keys.team);
    const body = expectRefusal(await exchange(service, foreign, keys.team, { localAddress: attacker() }), invalidToken);
    expect(body.detail).toMatch(/key the Authority does not publish/);
    // Claiming the trusted issuer and kid, signed by the untrusted key: the signature fails.
    const impostor = await signWithAuthorityKey(untrusted, opTokClaims(trusted.issuer, 'team-dpop', jkt.team), { kid: trusted.kid });
    expectRefusal(await exchange(service, impostor, keys.team, { localAddress: attacker() }), invalidToken);
    await expectServes(service, teamTok, keys.team);
  });

  describe('every DPoP proof variant', () => {
    const variants: [string, () => Promise<Parameters<typeof exchange>[3]>][] = [
      ['htm POST on a GET', async () => ({ overrides: { htm: 'POST' } })],
      ['htu of another path', async () => ({ overrides: { htu: `${service.url}/other` } })],
      ['htu of another port', async () => ({ overrides: { htu: `http://127.0.0.1:${Number(new URL(service.url).port) + 1}/token` } })],
      ['htu with https', async () => ({ overrides: { htu: service.url.replace('http:', 'https:') + '/token' } })],
      ['ath of another token', async () => ({ overrides: { ath: 'A'.repeat(43) } })],
      ['no ath', async () => ({ overrides: { ath: null } })],
      ['typ JWT', async () => ({ overrides: { typ: 'JWT' } })],
      ['typ at+jwt', async () => ({ overrides: { typ: 'at+jwt' } })],
      ['signed by key B for a token bound to key A (cnf.jkt)', async () => ({ overrides: {}, proofKeys: keys.other })],
      ['header jwk other than the signing key', async () => ({ overrides: { headerJwkFrom: keys.other } })],
      ['iat an hour ago', async () => ({ overrides: { iat: Math.floor(Date.now() / 1000) - 3600 } })],
      ['iat a minute ahead (beyond the tolerance)', async () => ({ overrides: { iat: Math.floor(Date.now() / 1000) + 60 } })],
      ['no proof with the DPoP scheme', async () => ({ proof: null })],
      ['unsigned proof (alg none)', async () => ({ proof: `${enc({ alg: 'none', typ: 'dpop+jwt', jwk: await exportJWK(keys.team.publicKey) })}.${enc({ htm: 'GET', htu: `${service.url}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })}.` })],
    ];
    for (const [name, make] of variants) {
      it(name, { timeout: 20_000 }, async () => {
        const options = (await make()) as Parameters<typeof exchange>[3] & { proofKeys?: KeyPair };
        const res = await exchange(service, teamTok, options.proofKeys ?? keys.team, { ...options, localAddress: attacker() });
        expectRefusal(res, invalidProof);
        await expectServes(service, teamTok, keys.team);
      });
    }

    it('a proof replayed at once', { timeout: 20_000 }, async () => {
      const url = tokenUrl(service.url, { service: SERVICE });
      const proof = await makeProof(keys.team, 'GET', url, teamTok);
      expect((await exchange(service, teamTok, keys.team, { proof })).status).toBe(200);
      const body = expectRefusal(await exchange(service, teamTok, keys.team, { proof, localAddress: attacker() }), invalidProof);
      expect(body.detail).toMatch(/used before/);
      await expectServes(service, teamTok, keys.team);
    });

    it('two DPoP headers', { timeout: 20_000 }, async () => {
      const url = tokenUrl(service.url, { service: SERVICE });
      const proofs = [await makeProof(keys.team, 'GET', url, teamTok), await makeProof(keys.team, 'GET', url, teamTok)];
      expectRefusal(await exchange(service, teamTok, keys.team, { proof: proofs, localAddress: attacker() }), invalidProof);
      await expectServes(service, teamTok, keys.team);
    });
  });

  it('two Authorization headers', { timeout: 20_000 }, async () => {
    const res = await exchange(service, teamTok, keys.team, { headers: [['Authorization', `Bearer ${teamTok}`]], localAddress: attacker() });
    expectRefusal(res, { status: 400, code: 'invalid_request', error: 'invalid_request', challenge: 'Bearer' });
    await expectServes(service, teamTok, keys.team);
  });

  it('a DPoP-bound OpTok presented as a Bearer token', { timeout: 20_000 }, async () => {
    expectRefusal(await exchange(service, teamTok, keys.team, { scheme: 'Bearer', proof: null, localAddress: attacker() }), invalidToken);
    await expectServes(service, teamTok, keys.team);
  });

  it('forged X-Forwarded-Host/Proto/For from an untrusted peer do not move the htu', { timeout: 20_000 }, async () => {
    const forwarded: [string, string][] = [['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-For', '10.0.0.1'], ['Forwarded', 'for=10.0.0.1;host=evil.example;proto=https']];
    // A proof for the forged URL is refused ...
    const res = await exchange(service, teamTok, keys.team, { overrides: { htu: 'https://evil.example/token' }, headers: forwarded, localAddress: attacker() });
    const body = expectRefusal(res, invalidProof);
    expect(body.detail).toMatch(/htu/);
    // ... and a proof for the real URL still works: the forged headers were ignored.
    const real = await exchange(service, teamTok, keys.team, { headers: forwarded, localAddress: attacker() });
    expect(real.status, real.body).toBe(200);
    await expectServes(service, teamTok, keys.team);
  });

  it('a certificate-bound OpTok with the (public) certificate in every client-certificate header, from an untrusted peer', { timeout: 20_000 }, async () => {
    const pem = encodeURIComponent(mtlsCert.certPem);
    for (const header of [
      ['Client-Cert', `:${mtlsCert.der.toString('base64')}:`],
      ['ssl-client-cert', pem],
      ['x-forwarded-client-cert', `Hash=x;Cert="${pem}"`],
    ] as [string, string][]) {
      const res = await exchange(service, mtlsTok, undefined, { scheme: 'Bearer', proof: null, headers: [header], localAddress: attacker() });
      expectRefusal(res, { status: 401, code: 'invalid_token', error: 'invalid_token', challenge: 'Bearer' });
    }
    await expectServes(service, teamTok, keys.team);
  });

  describe('scope grammar tricks never grant more than the plan', () => {
    const tricks: [string, string[]][] = [
      ['dot-dot segment', ['repository:team/../secret/x:pull']],
      ['upper case name', ['repository:Team/App:pull']],
      ['no actions', ['repository:team/app']],
      ['upper case action', ['repository:team/app:PULL']],
      ['unknown resource type', ['Repo:team/app:pull']],
      ['newline smuggling a second scope', ['repository:team/app:pull\nrepository:secret/x:pull']],
      ['NUL byte in the name', ['repository:team/app\u0000:pull']],
      ['empty name', ['repository::pull']],
      ['leading slash', ['repository:/secret/x:pull']],
      ['trailing slash', ['repository:team/app/:pull']],
      ['percent-encoded slash', ['repository:team%2F..%2Fsecret:pull']],
      ['a 300-character name', [`repository:team/${'a'.repeat(300)}:pull`]],
    ];
    for (const [name, scope] of tricks) {
      it(`${name} is 400 invalid_scope`, { timeout: 20_000 }, async () => {
        const res = await exchange(service, teamTok, keys.team, { scope, localAddress: attacker() });
        expectRefusal(res, { status: 400, code: 'invalid_scope', error: 'invalid_scope' });
        await expectServes(service, teamTok, keys.team);
      });
    }

    it('wildcard and catalog scopes and unknown actions grant nothing outside the plan', { timeout: 20_000 }, async () => {
      for (const scope of ['repository:*:pull', 'repository:**:pull', 'repository:secret/x:*', 'registry:catalog:*', 'repository:team/app:delete']) {
        const res = await exchange(service, teamTok, keys.team, { scope: [scope], localAddress: attacker() });
        if (res.status === 200) {
          const access = JSON.parse(Buffer.from(res.json<{ token: string }>().token.split('.')[1]!, 'base64url').toString()).access;
          expect(access, scope).toEqual([]);
        } else expect([400, 403], `${scope}: ${res.body}`).toContain(res.status);
      }
      await expectServes(service, teamTok, keys.team);
    });
  });
});

describe('defect 1: a DPoP proof is remembered as long as it would be accepted', () => {
  it('a proof with iat ahead, used once, is refused when replayed after maxAge + tolerance', { timeout: 30_000 }, async () => {
    // clockTolerance 3 s, maxAge 1 s: a proof with iat 2 s ahead is acceptable until about
    // use + 5 s; the buggy cache forgot its jti at use + 4 s.
    const short = await battery.service('replay-window', trusted, (config) => {
      (config.authority as Record<string, unknown>).clockToleranceSeconds = 3;
      Object.assign((config.authority as Record<string, { maxAgeSeconds?: number }>).dpop ??= {}, { maxAgeSeconds: 1 });
    });
    const url = tokenUrl(short.url, { service: SERVICE });
    // Just after a second boundary, so "iat 2 s ahead" is 2 s ahead to within a few ms.
    await sleep(1000 - (Date.now() % 1000) + 20);
    const proof = await makeProof(keys.team, 'GET', url, teamTok, { iat: Math.floor(Date.now() / 1000) + 2 });
    const first = await exchange(short, teamTok, keys.team, { proof });
    expect(first.status, first.body).toBe(200);
    await sleep(4_400);
    const replay = await exchange(short, teamTok, keys.team, { proof, localAddress: attacker() });
    const body = expectRefusal(replay, invalidProof);
    expect(body.detail).toMatch(/used before/);
    await expectServes(short, teamTok, keys.team);
    await short.stop('SIGTERM');
  });
});

describe('defect 2: a claim of the wrong type refuses the OpTok, naming the claim', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['licence as an array (a revoked one inside)', { 'stellaops:license': ['lic-revoked'] }, 'stellaops:license'],
    ['licence as a number', { 'stellaops:license': 42 }, 'stellaops:license'],
    ['plan as an array', { 'stellaops:plan': ['operator'] }, 'stellaops:plan'],
    ['plan as an object', { 'stellaops:plan': { name: 'operator' } }, 'stellaops:plan'],
    ['tenant as an array', { tid: ['acme', 'other'] }, 'tid'],
    ['numeric sub', { sub: 12345 }, 'sub'],
    ['numeric client_id', { client_id: 12345 }, 'client_id'],
    ['numeric azp (no client_id)', { client_id: undefined, azp: 7 }, 'azp'],
    ['scope as an array', { scope: ['registry.token.issue'] }, 'scope'],
    ['scp as a number', { scope: undefined, scp: 1 }, 'scp'],
    ['cnf as a string', { cnf: 'jkt' }, 'cnf'],
    ['cnf.jkt as a number', { cnf: { jkt: 1 } }, 'cnf'],
    ['numeric jti', { jti: 99 }, 'jti'],
  ];
  for (const [name, extra, claim] of cases) {
    it(`${name} is 401 invalid_token naming "${claim}"`, { timeout: 20_000 }, async () => {
      const claims = Object.fromEntries(Object.entries(opTokClaims(trusted.issuer, 'team-dpop', jkt.team, extra)).filter(([, v]) => v !== undefined));
      const token = await signWithAuthorityKey(trusted, claims);
      const body = expectRefusal(await exchange(service, token, keys.team, { scope: ['repository:team/app:pull,push'], localAddress: attacker() }), invalidToken);
      // The claim by name, or one of its members (e.g. "cnf.jkt").
      expect(body.detail).toMatch(new RegExp(`"${claim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.[^"]+)?"`));
      await expectServes(service, teamTok, keys.team);
    });
  }

  it('a licence array does not pass the admin API either', { timeout: 20_000 }, async () => {
    const claims = opTokClaims(trusted.issuer, 'operator', jkt.operator, { scope: `registry.token.issue ${ADMIN}`, 'stellaops:plan': 'operator', 'stellaops:license': ['lic-revoked'] });
    const token = await signWithAuthorityKey(trusted, claims);
    const url = `${service.url}/admin/revocations`;
    const res = await callWithProof(url, { token, proof: await makeProof(keys.operator, 'GET', url, token), localAddress: attacker() });
    const body = expectRefusal(res, invalidToken);
    expect(body.detail).toContain('"stellaops:license"');
    await expectServes(service, teamTok, keys.team);
  });
});

describe('defect 3: the OpTok typ must be at+jwt (RFC 9068 §4)', () => {
  for (const [name, typ] of [['no typ', undefined], ['typ JWT (an ID-token-shaped JWT)', 'JWT'], ['typ dpop+jwt', 'dpop+jwt']] as const) {
    it(`${name} is 401 invalid_token`, { timeout: 20_000 }, async () => {
      const token = await forged({}, { typ });
      const body = expectRefusal(await exchange(service, token, keys.team, { localAddress: attacker() }), invalidToken);
      expect(body.detail).toMatch(/typ/);
      await expectServes(service, teamTok, keys.team);
    });
  }

  it('application/at+jwt and AT+JWT are accepted', { timeout: 20_000 }, async () => {
    for (const typ of ['application/at+jwt', 'AT+JWT']) {
      const res = await exchange(service, await forged({}, { typ }), keys.team);
      expect(res.status, `${typ}: ${res.body}`).toBe(200);
    }
  });

  it('an operator opts out with authority.requireAccessTokenType: false (warned at start-up); dpop+jwt stays refused', { timeout: 30_000 }, async () => {
    const lax = await battery.service('no-typ', trusted, (config) => {
      (config.authority as Record<string, unknown>).requireAccessTokenType = false;
    });
    expect(lax.output()).toMatch(/requireAccessTokenType/);
    expect((await exchange(lax, await forged({}, { typ: undefined }), keys.team)).status).toBe(200);
    expectRefusal(await exchange(lax, await forged({}, { typ: 'dpop+jwt' }), keys.team, { localAddress: attacker() }), invalidToken);
    await expectServes(lax, teamTok, keys.team);
    await lax.stop('SIGTERM');
  });
});

describe('defect 4: only the configured certificate header, only from a trusted proxy', () => {
  const bearerRefusal = { status: 401, code: 'invalid_token', error: 'invalid_token', challenge: 'Bearer' } as const;
  let proxied: BatteryService;
  let configured: Promise<BatteryService> | undefined;

  // 127.0.0.1 is the trusted proxy; 127.0.0.2 an untrusted peer.
  beforeAll(async () => {
    proxied = await battery.service('proxied', trusted, (config) => {
      (config.server as Record<string, unknown>).trustedProxies = ['127.0.0.1'];
    });
  }, 30_000);
  /** Started by the first test that needs it, so a build without the key fails those tests only. */
  const needConfigured = () =>
    (configured ??= battery.service('cert-header', trusted, (config) => {
      (config.server as Record<string, unknown>).trustedProxies = ['127.0.0.1'];
      (config.server as Record<string, unknown>).clientCertificateHeader = { name: 'X-SSL-Client-Cert', format: 'pem-urlencoded' };
    }));

  it('without clientCertificateHeader, a Client-Cert header sent through the trusted proxy is ignored', { timeout: 20_000 }, async () => {
    const res = await exchange(proxied, mtlsTok, undefined, { scheme: 'Bearer', proof: null, headers: [['Client-Cert', `:${mtlsCert.der.toString('base64')}:`]] });
    expectRefusal(res, bearerRefusal);
    await expectServes(proxied, teamTok, keys.team);
  });

  it('the configured header from the trusted proxy binds; another header or another peer does not', { timeout: 20_000 }, async () => {
    const target = await needConfigured();
    const pem = encodeURIComponent(mtlsCert.certPem);
    const good = await exchange(target, mtlsTok, undefined, { scheme: 'Bearer', proof: null, scope: ['repository:team/app:pull'], headers: [['X-SSL-Client-Cert', pem]] });
    expect(good.status, good.body).toBe(200);
    // The thief's own header, alongside or instead of the proxy's (the proxy strips only its own).
    const thief = await exchange(target, mtlsTok, undefined, { scheme: 'Bearer', proof: null, headers: [['Client-Cert', `:${mtlsCert.der.toString('base64')}:`]] });
    expectRefusal(thief, bearerRefusal);
    // The configured header straight from an untrusted peer.
    const direct = await exchange(target, mtlsTok, undefined, { scheme: 'Bearer', proof: null, headers: [['X-SSL-Client-Cert', pem]], localAddress: '127.0.0.2' });
    expectRefusal(direct, bearerRefusal);
    await expectServes(target, teamTok, keys.team);
  });

  it('where mTLS is offered, a request without credentials gets a Bearer challenge besides DPoP, with no error=', { timeout: 20_000 }, async () => {
    const target = await needConfigured();
    const res = await callWithProof(tokenUrl(target.url, { service: SERVICE }), { localAddress: attacker() });
    expectRefusal(res, { status: 401, code: 'invalid_token' });
    const header = String(res.headers['www-authenticate']);
    const offered = challenges(header);
    expect(offered.DPoP?.algs, header).toBeTruthy();
    expect(offered.Bearer?.realm, header).toBeTruthy();
    expect(header).not.toMatch(/error=/);
  });
});

describe('defect 5: one process per ledger directory', () => {
  it('a second serve on the same ledger refuses to start, naming the holder; the records stay intact', { timeout: 40_000 }, async () => {
    // Issuances only: summaries of anonymous refusals may be written at any time.
    const issued = () => ledgerExport(service.ledgerPath).filter((r) => r.outcome === 'issued').length;
    const before = issued();
    await expectServes(service, teamTok, keys.team);
    const port = await freePort();
    const config = structuredClone(service.config);
    config.server = { host: '127.0.0.1', workers: 1, port };
    const path = writeConfig(join(battery.dir, 'second.yaml'), config);
    const second = await serveExpectingRefusal(battery, path, port);
    expect(second.result, second.output).not.toBe('served');
    expect(second.result, second.output).not.toBe(0);
    expect(second.output).toContain(String(service.pid));
    await expectServes(service, teamTok, keys.team);
    const verify = ledgerVerify(service.ledgerPath);
    expect(verify.status, verify.output).toBe(0);
    expect(issued()).toBe(before + 2);
  });

  it('a second serve on the same spool directory refuses to start', { timeout: 40_000 }, async () => {
    const spoolPath = join(battery.dir, 'shared-spool');
    const first = await battery.service('spool-1', trusted, (config, dir) => {
      config.ledger = { driver: 'file', path: join(dir, 'ledger'), onUnavailable: 'spool', spoolPath };
    });
    const port = await freePort();
    const config = structuredClone(first.config);
    config.server = { host: '127.0.0.1', workers: 1, port };
    config.ledger = { driver: 'file', path: join(battery.dir, 'spool-2-ledger'), onUnavailable: 'spool', spoolPath };
    const second = await serveExpectingRefusal(battery, writeConfig(join(battery.dir, 'spool-2.yaml'), config), port);
    expect(second.result, second.output).not.toBe('served');
    expect(second.result, second.output).not.toBe(0);
    expect(second.output).toContain(String(first.pid));
    await first.stop('SIGTERM');
  });

  it('ledger verify on a directory that does not exist fails', { timeout: 20_000 }, () => {
    const verify = ledgerVerify(join(battery.dir, 'no-such-ledger'));
    expect(verify.status, verify.output).not.toBe(0);
  });
});

describe('defect 6: runtime revocations never fail open', () => {
  it('with the store unreachable at start (onUnavailable spool), /token is 503 revocations_unavailable', { timeout: 40_000 }, async () => {
    const deadPort = await freePort();
    const replica = await battery.service('no-store', trusted, (config, dir) => {
      config.ledger = { driver: 'mongodb', mongodb: { uri: `mongodb://127.0.0.1:${deadPort}/?serverSelectionTimeoutMS=500` }, onUnavailable: 'spool', spoolPath: join(dir, 'spool') };
    });
    const res = await exchange(replica, teamTok, keys.team, { scope: ['repository:team/app:pull'] });
    expectRefusal(res, { status: 503, code: 'revocations_unavailable', error: 'temporarily_unavailable' });
    const ready = await fetch(`${replica.url}/readyz`);
    expect(ready.status).toBe(503);
    await replica.stop('SIGTERM');
  });
});

describe('defect 6: the age of the runtime revocations is visible', () => {
  it('/metrics has registry_token_revocations_age_seconds', { timeout: 20_000 }, async () => {
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const age = Number(/^registry_token_revocations_age_seconds(?:\{[^}]*\})? ([0-9.e+-]+)/m.exec(metrics)?.[1] ?? NaN);
    expect(age, 'registry_token_revocations_age_seconds').toBeGreaterThanOrEqual(0);
    await expectServes(service, teamTok, keys.team);
  });
});

describe('defect 7: Authority faults are 503s, never the caller’s fault, and never a fetch storm', () => {
  let flaky: AuthorityProcess;
  beforeAll(async () => {
    flaky = await battery.authority({ keyFile: join(battery.dir, 'flaky.jwk') });
  }, 30_000);

  it('a JWKS endpoint answering 503 is 503 authority_unavailable, not 401', { timeout: 30_000 }, async () => {
    const tok = await opTokWithDpop(flaky.issuer, 'team-dpop', keys.team);
    await flaky.toggle('SIGUSR1', 'failJwks=true');
    try {
      const cold = await battery.service('jwks-503', flaky);
      expectRefusal(await exchange(cold, tok, keys.team), { status: 503, code: 'authority_unavailable', error: 'temporarily_unavailable' });
      await cold.stop('SIGTERM');
    } finally {
      await flaky.toggle('SIGUSR1', 'failJwks=false');
    }
  });

  it('a discovery document that is not JSON is 503 authority_unavailable, not 500', { timeout: 30_000 }, async () => {
    const tok = await opTokWithDpop(flaky.issuer, 'team-dpop', keys.team);
    await flaky.toggle('SIGUSR2', 'htmlDiscovery=true');
    try {
      const cold = await battery.service('html-discovery', flaky);
      expectRefusal(await exchange(cold, tok, keys.team), { status: 503, code: 'authority_unavailable', error: 'temporarily_unavailable' });
      await cold.stop('SIGTERM');
    } finally {
      await flaky.toggle('SIGUSR2', 'htmlDiscovery=false');
    }
  });

  it('forged tokens with unknown kids while the Authority fails cost at most one JWKS fetch', { timeout: 30_000 }, async () => {
    const tok = await opTokWithDpop(flaky.issuer, 'team-dpop', keys.team);
    const warm = await battery.service('fetch-storm', flaky, (config) => {
      (config.authority as Record<string, unknown>).jwksCooldownSeconds = 2;
    });
    await expectServes(warm, tok, keys.team);
    // The last successful fetch is now older than the cool-down: the old code counted from it,
    // so while the Authority failed, every forged kid was one more fetch.
    await sleep(2_500);
    await flaky.toggle('SIGUSR1', 'failJwks=true');
    try {
      const before = flaky.hits('/jwks');
      const forgedToken = () => signWithAuthorityKey(flaky, opTokClaims(flaky.issuer, 'team-dpop', jkt.team), { kid: `forged-${randomUUID()}` });
      const tokens = await Promise.all(Array.from({ length: 20 }, forgedToken));
      const answers = await Promise.all(tokens.map((token) => exchange(warm, token, keys.team, { localAddress: attacker() })));
      for (let i = 0; i < 5; i++) answers.push(await exchange(warm, await forgedToken(), keys.team, { localAddress: attacker() }));
      for (const res of answers) {
        expect([401, 503], res.body).toContain(res.status);
        expectRefusal(res, res.status === 401 ? invalidToken : { status: 503, code: 'authority_unavailable', error: 'temporarily_unavailable' });
      }
      expect(flaky.hits('/jwks') - before, 'JWKS fetches caused by 25 forged kids').toBeLessThanOrEqual(1);
    } finally {
      await flaky.toggle('SIGUSR1', 'failJwks=false');
    }
    // The cached key still verifies the real token.
    await expectServes(warm, tok, keys.team);
    await warm.stop('SIGTERM');
  });

  it('concurrent requests on a cold cache share one fetch in flight', { timeout: 30_000 }, async () => {
    const tok = await opTokWithDpop(flaky.issuer, 'team-dpop', keys.team);
    const cold = await battery.service('one-fetch', flaky);
    const before = flaky.hits('/jwks');
    const answers = await Promise.all(Array.from({ length: 16 }, () => exchange(cold, tok, keys.team)));
    expect(answers.map((a) => a.status)).toEqual(Array(16).fill(200));
    expect(flaky.hits('/jwks') - before).toBe(1);
    await cold.stop('SIGTERM');
  });
});

describe('defect 8: one client cannot deny the others', () => {
  it('a client that fills its share of the replay cache gets 429; another client is still served', { timeout: 40_000 }, async () => {
    const bystanderKeys = await newDpopKeys();
    const bystanderTok = await opTokWithDpop(trusted.issuer, 'bystander', bystanderKeys);
    const small = await battery.service('replay-fair', trusted, (config) => {
      (config.authority as Record<string, unknown>).dpop = { replayCacheSize: 100, replayCachePerClient: 20 };
    });
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await exchange(small, teamTok, keys.team));
    const limited = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(20);
    expect(limited.length).toBeGreaterThanOrEqual(80);
    const first = limited[0]!;
    expectRefusal(first, { status: 429, code: 'rate_limited', error: 'rate_limited' });
    expect(Number(first.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // The other client is untouched: no 503 replay_cache_full for it.
    for (let i = 0; i < 10; i++) {
      const res = await exchange(small, bystanderTok, bystanderKeys, { scope: ['repository:team/app:pull'] });
      expect(res.status, res.body).toBe(200);
    }
    await small.stop('SIGTERM');
  });
});

describe('defect 9: the small ones', () => {
  it('a proof header with "jwk": null is 401 invalid_dpop_proof, not 500', { timeout: 20_000 }, async () => {
    const claims = { htm: 'GET', htu: `${service.url}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) };
    const proof = `${enc({ alg: 'ES256', typ: 'dpop+jwt', jwk: null })}.${enc(claims)}.${'A'.repeat(86)}`;
    expectRefusal(await exchange(service, teamTok, keys.team, { proof, localAddress: attacker() }), invalidProof);
    await expectServes(service, teamTok, keys.team);
  });

  it('ci/{clientId}-* grants ci/runner-build-1 to client runner, and not to client run', { timeout: 20_000 }, async () => {
    const res = await exchange(service, runnerTok, keys.runner, { scope: ['repository:ci/runner-build-1:pull,push'] });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(Buffer.from(res.json<{ token: string }>().token.split('.')[1]!, 'base64url').toString()).access).toEqual([
      { type: 'repository', name: 'ci/runner-build-1', actions: ['pull', 'push'] },
    ]);
    const other = await exchange(service, runTok, keys.run, { scope: ['repository:ci/runner-build-1:pull'] });
    expectRefusal(other, { status: 403, code: 'plan_denied', error: 'insufficient_scope', challenge: 'DPoP' });
  });

  it('t-{tenant}-*/app grants t-a-b-c/app to tenant a, and not to tenant b', { timeout: 20_000 }, async () => {
    const res = await exchange(service, runnerTok, keys.runner, { scope: ['repository:t-a-b-c/app:pull'] });
    expect(res.status, res.body).toBe(200);
    const other = await exchange(service, runTok, keys.run, { scope: ['repository:t-a-b-c/app:pull'] });
    expectRefusal(other, { status: 403, code: 'plan_denied', error: 'insufficient_scope', challenge: 'DPoP' });
  });

  it('no credentials at all: 401 whose challenge has no error= (RFC 6750 §3.1), and a DPoP algs challenge', { timeout: 20_000 }, async () => {
    const res = await callWithProof(tokenUrl(service.url, { service: SERVICE, scope: ['repository:library/base:pull'] }), { localAddress: attacker() });
    expectRefusal(res, { status: 401, code: 'invalid_token' });
    const header = String(res.headers['www-authenticate']);
    expect(challenges(header).DPoP?.algs, header).toBeTruthy();
    expect(header).not.toMatch(/error=/);
    await expectServes(service, teamTok, keys.team);
  });

  it('a 403 carries insufficient_scope in WWW-Authenticate and error; the reason stays in code', { timeout: 20_000 }, async () => {
    const res = await exchange(service, teamTok, keys.team, { scope: ['repository:secret/x:pull'], localAddress: attacker() });
    expectRefusal(res, { status: 403, code: 'plan_denied', error: 'insufficient_scope', challenge: 'DPoP' });
    await expectServes(service, teamTok, keys.team);
  });

  it('HEAD /token is 405 (Allow: GET, POST) and records nothing', { timeout: 20_000 }, async () => {
    const requestId = `head-${randomUUID()}`;
    const res = await exchange(service, teamTok, keys.team, { method: 'HEAD', headers: [['X-Request-Id', requestId]], localAddress: attacker() });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST');
    await expectServes(service, teamTok, keys.team);
    expect(ledgerExport(service.ledgerPath).filter((r) => r.requestId === requestId)).toEqual([]);
  });

  it('a 3,000-character licence id in the admin path is a 414 problem document', { timeout: 20_000 }, async () => {
    const operatorTok = await opTokWithDpop(trusted.issuer, 'operator', keys.operator);
    const url = `${service.url}/admin/revocations/${'L'.repeat(3000)}`;
    const res = await callWithProof(url, { token: operatorTok, proof: await makeProof(keys.operator, 'DELETE', url, operatorTok), method: 'DELETE', localAddress: attacker() });
    expect(res.status, res.body).toBe(414);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json<{ status: number; errors: unknown[] }>().errors).toHaveLength(1);
    await expectServes(service, teamTok, keys.team);
  });
});

describe('after the whole battery', () => {
  it('the service never answered 500, is healthy, and its ledger verifies', { timeout: 20_000 }, async () => {
    expect(service.output()).not.toMatch(/"statusCode":500/);
    expect(service.output()).not.toMatch(/unexpected error/);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const verify = ledgerVerify(service.ledgerPath);
    expect(verify.status, verify.output).toBe(0);
  });
});
