// Where docker-credential-registry-token gets its answers: credentials minted on demand for the
// registries of the settings file, cached until shortly before they expire.
//   get    a cached credential, else a new one (OpTok by client_credentials + DPoP, then
//          POST /credentials), as Username "<token>" so clients use it as an identity token;
//          a registry not in the settings is "not found" and the client goes on without.
//   store  accepted and ignored: `docker login` stores what it was given, but this helper's
//          credentials are minted, not remembered; refusing would make `docker login` fail.
//   erase  drops the cached credential (`docker logout`): the next get mints a new one. The
//          dropped credential stays valid until it expires; revoke it by id if it leaked.
//   list   the configured registries, each with the username "<token>".
import { hostname } from 'node:os';
import { readClientSecret } from './client-secret.ts';
import { CredentialCache, fingerprint } from './credential-cache.ts';
import { discoverTokenService } from './discover.ts';
import { loadOrCreateKeys } from './dpop-key.ts';
import { ClientError } from './errors.ts';
import type { CredentialSource } from './helper-protocol.ts';
import { obtainCredential } from './obtain.ts';
import { settingsPath, type HelperSettings, type RegistrySettings } from './settings.ts';
import { registryName } from './urls.ts';

/** The username that tells docker and containers/image that the secret is an identity token. */
export const IDENTITY_TOKEN_USERNAME = '<token>';

function hostOf(serverUrl: string): string | undefined {
  try {
    return registryName(serverUrl).host;
  } catch {
    return undefined;
  }
}

function defaultName(): string {
  return `docker-credential-registry-token@${hostname()}`.slice(0, 128);
}

async function mint(settings: HelperSettings, registry: RegistrySettings): Promise<{ id: string; username: string; credential: string; expires_at: string }> {
  const tokenService = registry.tokenService ?? (await discoverTokenService({ host: registry.host, scheme: undefined }, registry.insecure)).base;
  const clientSecret = await readClientSecret(registry.authority.clientSecretFile);
  const keys = await loadOrCreateKeys(settings.dpopKeyFile);
  return obtainCredential(
    {
      authority: { ...registry.authority, clientSecret },
      tokenService,
      credential: { scopes: registry.scopes, expiresInSeconds: settings.credentialLifetimeSeconds, name: registry.name ?? defaultName() },
    },
    keys,
  );
}

export function helperSource(settings: HelperSettings | undefined, env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const cache = settings === undefined ? undefined : new CredentialCache(settings.cacheDir);
  return {
    async get(serverUrl) {
      if (settings === undefined || cache === undefined) {
        throw new ClientError(`not configured: no settings file ${settingsPath(env)} (see docs/credential-helper.md; $REGISTRY_TOKEN_HELPER_CONFIG names another)`);
      }
      const host = hostOf(serverUrl);
      const registry = host === undefined ? undefined : settings.registries.get(host);
      if (registry === undefined) return undefined;
      const print = fingerprint({
        issuer: registry.authority.issuer.href,
        clientId: registry.authority.clientId,
        authorityScope: registry.authority.scope,
        resource: registry.authority.resource ?? null,
        tokenService: registry.tokenService?.href ?? null,
        insecure: registry.insecure,
        scopes: registry.scopes,
      });
      const cached = await cache.fresh(registry.host, print, settings.renewBeforeSeconds * 1000);
      if (cached !== undefined) return { username: IDENTITY_TOKEN_USERNAME, secret: cached.credential };
      const issued = await mint(settings, registry);
      await cache.put(registry.host, { fingerprint: print, id: issued.id, username: issued.username, credential: issued.credential, expires_at: issued.expires_at });
      return { username: IDENTITY_TOKEN_USERNAME, secret: issued.credential };
    },
    async store() {
      // Accepted and ignored (see above).
    },
    async erase(serverUrl) {
      const host = hostOf(serverUrl);
      if (cache !== undefined && host !== undefined) await cache.drop(host);
    },
    async list() {
      return Object.fromEntries([...(settings?.registries.keys() ?? [])].map((host) => [host, IDENTITY_TOKEN_USERNAME]));
    },
  };
}
