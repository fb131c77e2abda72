// `npm run demo`: a local development Authority, the service on its embedded defaults
// (etc/registry-token.yaml), one real DPoP exchange printed, then both keep serving.
// Development only: the Authority is in-memory and the signing key is the public sample.
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import * as oauth from 'oauth4webapi';
import { loadConfig } from '../config/loader.ts';
import { ConfigError } from '../domain/errors.ts';
import { createService } from '../service.ts';
import { createLogger } from '../telemetry/logger.ts';
import { startAuthority } from './authority.ts';

const CONFIG = process.env.REGISTRY_TOKEN_CONFIG ?? 'etc/registry-token.yaml';

async function main(): Promise<void> {
  const config = loadConfig({ path: CONFIG });
  const issuer = new URL(config.authority.issuer);
  const authority = await startAuthority({
    audience: config.authority.audiences[0]!,
    port: Number(issuer.port),
    clients: [
      {
        clientId: 'demo-ci',
        clientSecret: 'demo-ci-secret-local-only',
        binding: 'dpop',
        scope: [...config.authority.requiredScopes, config.admin.requiredScope].join(' '),
        claims: { [config.authority.claims.plan]: 'team', [config.authority.claims.license]: 'demo-licence', [config.authority.claims.tenant]: 'demo' },
      },
    ],
  });
  const service = await createService(config, { logger: createLogger({ level: config.telemetry.logLevel }) });
  await service.app.listen({ host: config.server.host, port: config.server.port });
  const base = config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  const serviceName = config.registry.allowedServices[0] ?? 'registry.localhost';

  // One real exchange, made the way any conforming client does it (oauth4webapi).
  const keys = await generateKeyPair('ES256', { extractable: true });
  const opTok = await authority.tokenWithDpop('demo-ci', keys);
  const url = new URL('/token', base);
  url.searchParams.set('service', serviceName);
  url.searchParams.append('scope', 'repository:team/app:pull,push');
  const response = await oauth.protectedResourceRequest(opTok, 'GET', url, new Headers(), null, {
    DPoP: oauth.DPoP({}, keys),
    [oauth.allowInsecureRequests]: true,
  });
  const body = (await response.json()) as { token?: string };
  const out = (text: string) => process.stdout.write(`${text}\n`);
  out(`\nAuthority: ${authority.issuer}   token service: ${base}   ledger: ${service.ledger.name}`);
  out(`GET ${url.pathname}${url.search} -> ${response.status}`);
  if (body.token === undefined) {
    out(JSON.stringify(body, null, 2));
  } else {
    out('registry token header:');
    out(JSON.stringify(decodeProtectedHeader(body.token), (key, value: unknown) => (key === 'x5c' ? ['…'] : value), 2));
    out('registry token claims:');
    out(JSON.stringify(decodeJwt(body.token), null, 2));
  }

  // A proof is single-use and lives 60 s, so print a fresh pair for one curl call.
  const proof = await new SignJWT({
    htm: 'GET',
    htu: `${url.origin}${url.pathname}`,
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ath: createHash('sha256').update(opTok).digest('base64url'),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
  out('\nTry it yourself within 60 seconds (the proof is single-use):');
  out(`curl -s '${url.toString().replace('pull%2Cpush', 'pull')}' \\\n  -H 'Authorization: DPoP ${opTok}' \\\n  -H 'DPoP: ${proof}'`);
  out('\nBoth keep serving; Ctrl-C stops them.');

  const stop = async () => {
    await service.close();
    await authority.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
});
