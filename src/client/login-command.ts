// registry-token login REGISTRY: one registry credential, obtained with the client's own
// Authority credentials (client_credentials + DPoP), written where docker and the containers
// tools look for it, or printed.
import { parseArgs } from 'node:util';
import { writeIdentityToken, dockerConfigFile } from './auth-files.ts';
import { DEFAULT_AUTHORITY_SCOPE } from './authority.ts';
import { CLIENT_SECRET_ENV, readClientSecret, refuseSecretOnCommandLine } from './client-secret.ts';
import { discoverTokenService } from './discover.ts';
import { ephemeralKeys } from './dpop-key.ts';
import { ClientError, oneLine } from './errors.ts';
import { obtainCredential } from './obtain.ts';
import { registryName, secureUrl, tokenServiceBase } from './urls.ts';
import { packageVersion } from './version.ts';

export const LOGIN_USAGE = `usage: registry-token login REGISTRY --issuer URL --client-id ID [options]
Obtains a registry credential for REGISTRY (host[:port]) from its token service, with an OpTok
from the Authority (client credentials, DPoP-bound), and stores it as an identity token.
  --issuer URL              the Authority (discovery at URL/.well-known/openid-configuration)
  --client-id ID            the client at the Authority
  --client-secret-file FILE its secret (else $${CLIENT_SECRET_ENV}; never on the command line)
  --authority-scope S       scopes asked of the Authority (default ${DEFAULT_AUTHORITY_SCOPE})
  --resource URI            resource indicator (RFC 8707) for the Authority, if it wants one
  --token-service URL       the token service (default: the realm of GET https://REGISTRY/v2/)
  --scope S                 narrow the credential to a Docker scope, e.g. repository:team/app:pull (repeatable)
  --expires-in SECONDS      lifetime asked for (the service bounds it; default: its default)
  --name N                  label recorded with the credential
  --docker-config DIR       write DIR/config.json (default: $DOCKER_CONFIG or ~/.docker)
  --auth-file FILE          write a containers auth.json (podman, buildah, skopeo)
  --print                   write nothing, print the credential on stdout
  --insecure                plain HTTP to the registry (and to a non-loopback Authority or token service)
  --json                    answer in JSON on stdout
  --help, --version`;

const OPTIONS = {
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-file': { type: 'string' },
  'authority-scope': { type: 'string' },
  resource: { type: 'string' },
  'token-service': { type: 'string' },
  scope: { type: 'string', multiple: true },
  'expires-in': { type: 'string' },
  name: { type: 'string' },
  'docker-config': { type: 'string' },
  'auth-file': { type: 'string' },
  print: { type: 'boolean' },
  insecure: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function parse(argv: string[]) {
  refuseSecretOnCommandLine(argv);
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's message goes on about "--" and positionals; the option name is what matters.
    const message = (error as Error).message.split('. ')[0] ?? 'bad arguments';
    throw new ClientError(message, { usage: true });
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new ClientError(`${flag} is required`, { usage: true });
  return value;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new ClientError(`${flag}: "${value}" is not a positive whole number of seconds`, { usage: true });
  return Number(value);
}

async function login(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help === true) {
    out.write(`${LOGIN_USAGE}\n`);
    return 0;
  }
  if (values.version === true) {
    out.write(`registry-token ${packageVersion()}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new ClientError(positionals.length === 0 ? 'name the registry: registry-token login REGISTRY' : `one registry at a time (got ${positionals.join(' ')})`, { usage: true });
  if (values.print === true && (values['docker-config'] !== undefined || values['auth-file'] !== undefined)) {
    throw new ClientError('--print writes nothing: leave out --docker-config and --auth-file, or --print', { usage: true });
  }
  const registry = registryName(positionals[0]!);
  const insecure = values.insecure === true || registry.scheme === 'http';
  const issuer = secureUrl(required(values.issuer, '--issuer'), '--issuer', insecure);
  const clientId = required(values['client-id'], '--client-id');
  const expiresInSeconds = positiveInteger(values['expires-in'], '--expires-in');
  const clientSecret = await readClientSecret(values['client-secret-file']);
  const tokenService =
    values['token-service'] === undefined
      ? (await discoverTokenService(registry, insecure)).base
      : tokenServiceBase(secureUrl(values['token-service'], '--token-service', insecure));

  const issued = await obtainCredential(
    {
      authority: { issuer, clientId, clientSecret, scope: values['authority-scope'] ?? DEFAULT_AUTHORITY_SCOPE, resource: values.resource },
      tokenService,
      credential: { scopes: (values.scope ?? []).flatMap((s) => s.split(/\s+/)).filter((s) => s !== ''), expiresInSeconds, name: values.name },
    },
    await ephemeralKeys(),
  );

  if (values.print === true) {
    out.write(values.json === true ? `${JSON.stringify({ registry: registry.host, ...issued })}\n` : `${issued.credential}\n`);
    return 0;
  }
  const files: string[] = [];
  if (values['docker-config'] !== undefined) files.push(dockerConfigFile(values['docker-config']));
  if (values['auth-file'] !== undefined) files.push(values['auth-file']);
  if (files.length === 0) files.push(dockerConfigFile(undefined));
  for (const file of files) {
    for (const warning of await writeIdentityToken(file, registry.host, issued.username, issued.credential)) err.write(`registry-token login: warning: ${warning}\n`);
  }
  const { credential: _secret, ...summary } = issued;
  if (values.json === true) {
    out.write(`${JSON.stringify({ registry: registry.host, ...summary, tokenService: tokenService.href, files })}\n`);
  } else {
    const narrowed = issued.scope === '' ? 'the whole plan' : issued.scope;
    out.write(`Login succeeded: credential ${issued.id} for ${registry.host} (${narrowed}), expires ${issued.expires_at}; written to ${files.join(', ')}\n`);
  }
  return 0;
}

/** Runs the command; every failure is one line on stderr and exit status 1. */
export async function loginCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    return await login(argv, out, err);
  } catch (error) {
    const hint = error instanceof ClientError && error.usage ? ' (see registry-token login --help)' : '';
    err.write(`registry-token login: ${oneLine(error)}${hint}\n`);
    return 1;
  }
}
