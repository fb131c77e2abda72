import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEnvOverrides } from '../../src/config/env.ts';
import { ENV_PREFIX, loadConfig } from '../../src/config/loader.ts';
import { configError } from '../support/thrown.ts';

const FILE = {
  authority: { issuer: 'https://authority.test', audiences: ['registry-token'] },
  signing: { issuer: 'registry-token', keyPath: '/keys/signing.pem' },
  registry: { realm: 'https://registry-token.test/token' },
  plans: {
    Team: [{ repository: 'team/**', actions: ['pull', 'push'] }],
    community: [{ repository: 'library/**' }],
  },
  defaultPlan: 'community',
};

let dir: string;
let path: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-env-'));
  path = join(dir, 'registry-token.yaml');
  writeFileSync(path, dump(FILE));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (env: Record<string, string>) => loadConfig({ path, env });


describe('environment overrides: values', () => {
  it('uses the prefix REGISTRY_TOKEN_', () => {
    expect(ENV_PREFIX).toBe('REGISTRY_TOKEN_');
  });

  it('a number becomes a number', () => {
    const config = load({ REGISTRY_TOKEN_SIGNING__LIFETIMESECONDS: '120' });
    expect(config.signing.lifetimeSeconds).toBe(120);
    expect(typeof config.signing.lifetimeSeconds).toBe('number');
  });

  it('names are case-insensitive', () => {
    expect(load({ registry_token_signing__lifetimeseconds: '120' }).signing.lifetimeSeconds).toBe(120);
    expect(load({ Registry_Token_Signing__LifetimeSeconds: '90' }).signing.lifetimeSeconds).toBe(90);
  });

  it('a comma-separated list becomes an array, trimmed', () => {
    expect(load({ REGISTRY_TOKEN_REVOKEDLICENSES: 'a,b' }).revokedLicenses).toEqual(['a', 'b']);
    expect(load({ REGISTRY_TOKEN_REVOKEDLICENSES: ' a , b ,' }).revokedLicenses).toEqual(['a', 'b']);
    expect(load({ REGISTRY_TOKEN_REVOKEDLICENSES: '' }).revokedLicenses).toEqual([]);
    expect(load({ REGISTRY_TOKEN_AUTHORITY__AUDIENCES: 'one,two' }).authority.audiences).toEqual(['one', 'two']);
  });

  it('a list may also be given as JSON', () => {
    expect(load({ REGISTRY_TOKEN_REVOKEDLICENSES: '["a,1","b"]' }).revokedLicenses).toEqual(['a,1', 'b']);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('a boolean: %s -> %s', (raw, expected) => {
    expect(load({ REGISTRY_TOKEN_AUTHORITY__DPOP__REQUIRENONCE: raw }).authority.dpop.requireNonce).toBe(expected);
  });

  it('a string stays a string', () => {
    expect(load({ REGISTRY_TOKEN_AUTHORITY__ISSUER: 'https://other.test' }).authority.issuer).toBe('https://other.test');
    expect(load({ REGISTRY_TOKEN_AUTHORITY__SENDERCONSTRAINT: 'optional' }).authority.senderConstraint).toBe('optional');
  });

  it('keeps the rest of the file', () => {
    const config = load({ REGISTRY_TOKEN_SERVER__PORT: '9000' });
    expect(config.server.port).toBe(9000);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.signing.keyPath).toBe('/keys/signing.pem');
    expect(Object.keys(config.plans)).toEqual(['Team', 'community']);
  });

  it('creates a section the file lacks', () => {
    const config = load({ REGISTRY_TOKEN_LEDGER__DRIVER: 'mongodb', REGISTRY_TOKEN_LEDGER__MONGODB__URI: 'mongodb://db.test:27017' });
    expect(config.ledger.driver).toBe('mongodb');
    expect(config.ledger.mongodb).toEqual({ uri: 'mongodb://db.test:27017', database: 'registry_token', collection: 'issuances' });
  });

  it('an override is validated like the file', () => {
    const error = configError(() => load({ REGISTRY_TOKEN_SIGNING__LIFETIMESECONDS: '30' }));
    expect(error.problems).toEqual(['signing.lifetimeSeconds: must be at least 60 (clients refuse shorter tokens)']);
  });

  it('does not change the document it is given', () => {
    const document = structuredClone(FILE);
    applyEnvOverrides(document, { REGISTRY_TOKEN_SIGNING__ISSUER: 'x' }, ENV_PREFIX);
    expect(document).toEqual(FILE);
  });

  it('ignores variables without the prefix', () => {
    expect(load({ PATH: '/bin', SIGNING__LIFETIMESECONDS: '30', REGISTRY_TOKENX: '1' }).signing.lifetimeSeconds).toBe(300);
  });
});

describe('environment overrides: plans', () => {
  it('replaces a plan by JSON, matching the file’s plan name case-insensitively', () => {
    const config = load({ REGISTRY_TOKEN_PLANS__TEAM: '[{"repository":"x/**"}]' });
    expect(config.plans.Team).toEqual([{ repository: 'x/**', actions: ['pull'] }]);
    expect(config.plans).not.toHaveProperty('team');
    expect(config.plans.community).toEqual([{ repository: 'library/**', actions: ['pull'] }]);
  });

  it('replaces all plans by JSON', () => {
    const config = load({ REGISTRY_TOKEN_PLANS: '{"gold":[{"registry":"catalog","actions":["*"]}]}', REGISTRY_TOKEN_DEFAULTPLAN: 'gold' });
    expect(config.plans).toEqual({ gold: [{ registry: 'catalog', actions: ['*'] }] });
    expect(config.defaultPlan).toBe('gold');
  });

  it('validates a plan given by JSON', () => {
    const error = configError(() => load({ REGISTRY_TOKEN_PLANS__TEAM: '[{"repository":"x/**","actions":["fly"]}]' }));
    expect(error.problems).toEqual(['plans.Team[0].actions[0]: must be one of pull, push, delete, *']);
  });

  it('names the variable when its JSON does not parse', () => {
    const error = configError(() => load({ REGISTRY_TOKEN_PLANS__TEAM: '[{repository: x}]' }));
    expect(error.problems).toEqual(['REGISTRY_TOKEN_PLANS__TEAM: expected JSON here, got "[{repository: x}]"']);
  });

  it('cannot add a plan the file does not name (use REGISTRY_TOKEN_PLANS for that)', () => {
    const error = configError(() => load({ REGISTRY_TOKEN_PLANS__GOLD: '[{"repository":"x/**"}]' }));
    expect(error.problems).toEqual(['REGISTRY_TOKEN_PLANS__GOLD: no configuration key "plans.gold"']);
  });
});

describe('environment overrides: problems name the variable', () => {
  // env, exact problems
  const table: [string, Record<string, string>, string[]][] = [
    ['a port that is not a number', { REGISTRY_TOKEN_SERVER__PORT: 'abc' }, ['REGISTRY_TOKEN_SERVER__PORT: "abc" is not a number']],
    ['an empty number', { REGISTRY_TOKEN_SERVER__PORT: '' }, ['REGISTRY_TOKEN_SERVER__PORT: "" is not a number']],
    ['a bad boolean', { REGISTRY_TOKEN_AUTHORITY__DPOP__REQUIRENONCE: 'maybe' }, ['REGISTRY_TOKEN_AUTHORITY__DPOP__REQUIRENONCE: "maybe" is not a boolean (true or false)']],
    ['an unknown top-level key', { REGISTRY_TOKEN_NOPE: '1' }, ['REGISTRY_TOKEN_NOPE: no configuration key "nope"']],
    ['an unknown nested key', { REGISTRY_TOKEN_SIGNING__LIFETIME: '1' }, ['REGISTRY_TOKEN_SIGNING__LIFETIME: no configuration key "signing.lifetime"']],
    ['an empty segment', { REGISTRY_TOKEN_SIGNING____LIFETIMESECONDS: '1' }, ['REGISTRY_TOKEN_SIGNING____LIFETIMESECONDS: empty key segment (use __ between keys)']],
    ['a single underscore between keys', { REGISTRY_TOKEN_SIGNING_LIFETIMESECONDS: '120' }, ['REGISTRY_TOKEN_SIGNING_LIFETIMESECONDS: no configuration key "signing_lifetimeseconds"']],
    ['a key below a value', { REGISTRY_TOKEN_SIGNING__ISSUER__X: '1' }, ['REGISTRY_TOKEN_SIGNING__ISSUER__X: "issuer" is not a section']],
  ];
  it.each(table)('%s', (_label, env, problems) => {
    expect(configError(() => load(env)).problems).toEqual(problems);
  });
});

describe('REGISTRY_TOKEN_CONFIG', () => {
  it('picks the file', () => {
    const config = loadConfig({ env: { REGISTRY_TOKEN_CONFIG: path } });
    expect(config.signing.keyPath).toBe('/keys/signing.pem');
  });

  it('is not itself a configuration key, in any case', () => {
    expect(() => loadConfig({ path, env: { REGISTRY_TOKEN_CONFIG: path } })).not.toThrow();
    expect(() => loadConfig({ path, env: { registry_token_config: path } })).not.toThrow();
  });

  it("the client tools' variables are not configuration keys either: a service next to them still starts", () => {
    const env = { REGISTRY_TOKEN_CLIENT_SECRET: 'secret-of-registry-token-login', registry_token_helper_config: '/etc/helper.yaml' };
    expect(load(env).signing.keyPath).toBe('/keys/signing.pem');
  });

  it('an explicit path wins over it', () => {
    const other = join(dir, 'other.yaml');
    writeFileSync(other, dump({ ...FILE, signing: { ...FILE.signing, keyPath: '/keys/other.pem' } }));
    expect(loadConfig({ path: other, env: { REGISTRY_TOKEN_CONFIG: path } }).signing.keyPath).toBe('/keys/other.pem');
  });

  it('names a missing file', () => {
    const missing = join(dir, 'missing.yaml');
    expect(configError(() => loadConfig({ env: { REGISTRY_TOKEN_CONFIG: missing } })).problems).toEqual([`${missing}: cannot read the configuration file (ENOENT)`]);
  });

  it('without any file, the environment alone can configure the service', () => {
    const config = loadConfig({
      env: {
        REGISTRY_TOKEN_AUTHORITY__ISSUER: 'https://authority.test',
        REGISTRY_TOKEN_AUTHORITY__AUDIENCES: 'registry-token',
        REGISTRY_TOKEN_SIGNING__ISSUER: 'registry-token',
        REGISTRY_TOKEN_SIGNING__KEYPATH: '/keys/k.pem',
        REGISTRY_TOKEN_REGISTRY__REALM: 'https://registry-token.test/token',
      },
    });
    expect(config.authority.audiences).toEqual(['registry-token']);
    expect(config.server.port).toBe(8085);
  });
});
