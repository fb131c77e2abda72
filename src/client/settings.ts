// The credential helper's settings: a YAML file ($REGISTRY_TOKEN_HELPER_CONFIG, else
// $XDG_CONFIG_HOME/registry-token/helper.yaml, else ~/.config/registry-token/helper.yaml),
// validated once with zod. Every key is documented in docs/credential-helper.md.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { z } from 'zod';
import { describeIssue } from '../config/zod-issues.ts';
import { DEFAULT_AUTHORITY_SCOPE } from './authority.ts';
import { ClientError } from './errors.ts';
import { registryName, secureUrl } from './urls.ts';

export const SETTINGS_ENV = 'REGISTRY_TOKEN_HELPER_CONFIG';

const nonEmpty = z.string().min(1, 'must not be empty');
const url = z.url({ error: (issue) => (issue.input === undefined ? undefined : 'must be an absolute URL') });
const seconds = z.number().int('must be a whole number of seconds');

const authorityFields = {
  /** The Authority's issuer; discovery at issuer/.well-known/openid-configuration. */
  issuer: url,
  clientId: nonEmpty,
  /** A file holding the client secret; else $REGISTRY_TOKEN_CLIENT_SECRET. */
  clientSecretFile: nonEmpty,
  /** Scopes asked of the Authority for the OpTok. */
  scope: z.string(),
  /** RFC 8707 resource indicator sent with the grant. */
  resource: nonEmpty,
};
const authorityOverride = z.strictObject(authorityFields).partial();

const registrySchema = z.strictObject({
  /** Base URL of the token service; absent: the realm of the registry's GET /v2/ challenge. */
  tokenService: url.optional(),
  /** Plain HTTP to the registry (and to a non-loopback token service or Authority). */
  insecure: z.boolean().default(false),
  /** Docker scopes that narrow the credential. */
  scope: z.array(nonEmpty).default([]),
  /** Label of the credential in the service's ledger. */
  name: z.string().min(1).max(128, 'must be at most 128 characters').optional(),
  /** Overrides of the top-level `authority` for this registry. */
  authority: authorityOverride.optional(),
});

export const settingsSchema = z
  .strictObject({
    authority: authorityOverride.optional(),
    credentialLifetimeSeconds: seconds.min(60, 'must be at least 60').default(900),
    renewBeforeSeconds: seconds.min(0, 'must not be negative').default(300),
    dpopKeyFile: nonEmpty.optional(),
    cacheDir: nonEmpty.optional(),
    registries: z.record(z.string(), registrySchema),
  })
  .superRefine((settings, ctx) => {
    if (settings.renewBeforeSeconds >= settings.credentialLifetimeSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewBeforeSeconds'],
        message: `must be less than credentialLifetimeSeconds (${settings.credentialLifetimeSeconds}), or a cached credential is never used`,
      });
    }
  });

export interface AuthoritySettings {
  issuer: URL;
  clientId: string;
  clientSecretFile: string | undefined;
  scope: string;
  resource: string | undefined;
}

export interface RegistrySettings {
  /** host[:port], as clients name the registry. */
  host: string;
  tokenService: URL | undefined;
  insecure: boolean;
  scopes: string[];
  name: string | undefined;
  authority: AuthoritySettings;
}

export interface HelperSettings {
  path: string;
  credentialLifetimeSeconds: number;
  renewBeforeSeconds: number;
  dpopKeyFile: string;
  cacheDir: string;
  registries: ReadonlyMap<string, RegistrySettings>;
}

function xdg(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name];
  return value !== undefined && isAbsolute(value) ? value : join(homedir(), fallback);
}

export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env[SETTINGS_ENV] || join(xdg(env, 'XDG_CONFIG_HOME', '.config'), 'registry-token', 'helper.yaml');
}

/** `~/x` is the home directory's; a relative path is the settings file's directory's. */
function filePath(value: string, settingsFile: string): string {
  if (value === '~' || value.startsWith('~/')) return join(homedir(), value.slice(1));
  return resolve(dirname(settingsFile), value);
}

function problem(path: string, problems: string[]): ClientError {
  return new ClientError(`${path}: ${problems.join('; ')}`);
}

export function parseSettings(document: unknown, path: string, env: NodeJS.ProcessEnv = process.env): HelperSettings {
  const result = settingsSchema.safeParse(document ?? {});
  if (!result.success) throw problem(path, result.error.issues.map(describeIssue));
  const raw = result.data;
  const problems: string[] = [];
  const registries = new Map<string, RegistrySettings>();
  for (const [key, entry] of Object.entries(raw.registries)) {
    const at = `registries.${key}`;
    let host: string;
    try {
      host = registryName(key).host;
    } catch (error) {
      problems.push(`${at}: ${(error as Error).message}`);
      continue;
    }
    if (registries.has(host)) {
      problems.push(`${at}: names the registry ${host} a second time`);
      continue;
    }
    const merged = { scope: DEFAULT_AUTHORITY_SCOPE, ...raw.authority, ...entry.authority };
    if (merged.issuer === undefined) problems.push(`${at}.authority.issuer: is required (here or as authority.issuer)`);
    if (merged.clientId === undefined) problems.push(`${at}.authority.clientId: is required (here or as authority.clientId)`);
    if (merged.issuer === undefined || merged.clientId === undefined) continue;
    try {
      registries.set(host, {
        host,
        tokenService: entry.tokenService === undefined ? undefined : secureUrl(entry.tokenService, `${at}.tokenService`, entry.insecure),
        insecure: entry.insecure,
        scopes: entry.scope,
        name: entry.name,
        authority: {
          issuer: secureUrl(merged.issuer, `${at}.authority.issuer`, entry.insecure),
          clientId: merged.clientId,
          clientSecretFile: merged.clientSecretFile === undefined ? undefined : filePath(merged.clientSecretFile, path),
          scope: merged.scope,
          resource: merged.resource,
        },
      });
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw problem(path, problems);
  return {
    path,
    credentialLifetimeSeconds: raw.credentialLifetimeSeconds,
    renewBeforeSeconds: raw.renewBeforeSeconds,
    dpopKeyFile: raw.dpopKeyFile === undefined ? join(xdg(env, 'XDG_STATE_HOME', '.local/state'), 'registry-token', 'dpop-key.json') : filePath(raw.dpopKeyFile, path),
    cacheDir: raw.cacheDir === undefined ? join(xdg(env, 'XDG_CACHE_HOME', '.cache'), 'registry-token') : filePath(raw.cacheDir, path),
    registries,
  };
}

/** The settings, or undefined when the file does not exist (the helper is then not configured). */
export async function loadSettings(env: NodeJS.ProcessEnv = process.env): Promise<HelperSettings | undefined> {
  const path = settingsPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClientError(`${path}: the settings file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { filename: path });
  } catch (error) {
    throw new ClientError(`${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  return parseSettings(document, path, env);
}
