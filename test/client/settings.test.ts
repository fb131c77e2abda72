import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseSettings, settingsPath } from '../../src/client/settings.ts';

const PATH = '/etc/registry-token/helper.yaml';
const AUTHORITY = { issuer: 'https://authority.example', clientId: 'ci', clientSecretFile: 'client-secret' };

describe('credential helper settings', () => {
  it('defaults: lifetime 900 s, renewal 300 s before expiry, XDG state and cache dirs, the Authority scope', () => {
    const settings = parseSettings({ authority: AUTHORITY, registries: { 'Registry.Example:5000': {} } }, PATH, {});
    expect(settings.credentialLifetimeSeconds).toBe(900);
    expect(settings.renewBeforeSeconds).toBe(300);
    expect(settings.dpopKeyFile).toBe(`${homedir()}/.local/state/registry-token/dpop-key.json`);
    expect(settings.cacheDir).toBe(`${homedir()}/.cache/registry-token`);
    const registry = settings.registries.get('registry.example:5000');
    expect(registry).toMatchObject({ host: 'registry.example:5000', tokenService: undefined, insecure: false, scopes: [], name: undefined });
    expect(registry?.authority).toMatchObject({ clientId: 'ci', scope: 'registry.token.issue', clientSecretFile: '/etc/registry-token/client-secret' });
  });

  it('XDG_STATE_HOME / XDG_CACHE_HOME / XDG_CONFIG_HOME and $REGISTRY_TOKEN_HELPER_CONFIG', () => {
    const settings = parseSettings({ authority: AUTHORITY, registries: {} }, PATH, { XDG_STATE_HOME: '/s', XDG_CACHE_HOME: '/c' });
    expect(settings.dpopKeyFile).toBe('/s/registry-token/dpop-key.json');
    expect(settings.cacheDir).toBe('/c/registry-token');
    expect(settingsPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/registry-token/helper.yaml');
    expect(settingsPath({ REGISTRY_TOKEN_HELPER_CONFIG: '/y.yaml', XDG_CONFIG_HOME: '/x' })).toBe('/y.yaml');
    expect(settingsPath({})).toBe(`${homedir()}/.config/registry-token/helper.yaml`);
  });

  it('a registry overrides the Authority, narrows, names its token service; ~ and relative paths', () => {
    const settings = parseSettings(
      {
        authority: AUTHORITY,
        dpopKeyFile: '~/keys/dpop.json',
        cacheDir: 'cache',
        registries: {
          'a.example': { tokenService: 'https://tokens.example/auth/', scope: ['repository:team/app:pull'], name: 'build box' },
          'b.example': { insecure: true, authority: { issuer: 'http://authority.internal', clientId: 'other', scope: 'x y' } },
        },
      },
      PATH,
      {},
    );
    expect(settings.dpopKeyFile).toBe(`${homedir()}/keys/dpop.json`);
    expect(settings.cacheDir).toBe('/etc/registry-token/cache');
    expect(settings.registries.get('a.example')).toMatchObject({ scopes: ['repository:team/app:pull'], name: 'build box' });
    expect(settings.registries.get('a.example')?.tokenService?.href).toBe('https://tokens.example/auth/');
    const b = settings.registries.get('b.example');
    expect(b?.authority).toMatchObject({ clientId: 'other', scope: 'x y', clientSecretFile: '/etc/registry-token/client-secret' });
    expect(b?.authority.issuer.href).toBe('http://authority.internal/');
  });

  it('every problem names the file and the key', () => {
    const problems = (document: unknown) => {
      try {
        parseSettings(document, PATH, {});
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(problems({ authority: AUTHORITY })).toBe(`${PATH}: registries: is required`);
    expect(problems({ authority: AUTHORITY, registries: {}, credentialLifetimeSecs: 5 })).toBe(`${PATH}: credentialLifetimeSecs: unknown key`);
    expect(problems({ authority: AUTHORITY, registries: {}, credentialLifetimeSeconds: 30 })).toMatch(/credentialLifetimeSeconds: must be at least 60/);
    expect(problems({ authority: AUTHORITY, registries: {}, credentialLifetimeSeconds: 600, renewBeforeSeconds: 600 })).toMatch(
      /renewBeforeSeconds: must be less than credentialLifetimeSeconds \(600\)/,
    );
    expect(problems({ registries: { 'r.example': {} } })).toBe(
      `${PATH}: registries.r.example.authority.issuer: is required (here or as authority.issuer); registries.r.example.authority.clientId: is required (here or as authority.clientId)`,
    );
    expect(problems({ authority: { ...AUTHORITY, issuer: 'http://authority.example' }, registries: { r: {} } })).toMatch(
      /registries\.r\.authority\.issuer: http:\/\/authority\.example is plain HTTP/,
    );
    expect(problems({ authority: AUTHORITY, registries: { R: {}, r: {} } })).toMatch(/registries\.r: names the registry r a second time/);
    expect(problems({ authority: AUTHORITY, registries: { r: { scope: 'repository:x:pull' } } })).toMatch(/registries\.r\.scope:/);
  });
});
