import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.ts';
import { loadConfig, parseConfig, readConfigFile } from '../../src/config/loader.ts';
import { configError } from '../support/thrown.ts';

const REFERENCE = fileURLToPath(new URL('../../etc/registry-token.yaml', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-loader-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function writeYaml(text: string): string {
  const path = join(dir, `config-${++counter}.yaml`);
  writeFileSync(path, text);
  return path;
}

function minimal(): Record<string, any> {
  return {
    authority: { issuer: 'https://authority.test', audiences: ['registry-token'] },
    signing: { issuer: 'registry-token', keyPath: '/etc/registry-token/signing.pem' },
    registry: { realm: 'https://registry-token.test/token' },
  };
}


describe('parseConfig: defaults', () => {
  it('fills every default into a minimal configuration', () => {
    const config = parseConfig(minimal());
    expect(config.server).toEqual({ host: '127.0.0.1', port: 8085, workers: availableParallelism(), trustedProxies: [], shutdownTimeoutSeconds: 10, requestTimeoutSeconds: 15 });
    expect(config.signing.lifetimeSeconds).toBe(300);
    expect(config.signing.previousKeyPaths).toEqual([]);
    expect(config.authority.requiredScopes).toEqual(['registry.token.issue']);
    expect(config.authority.senderConstraint).toBe('required');
    expect(config.authority.clockToleranceSeconds).toBe(30);
    expect(config.authority.claims).toEqual({ plan: 'stellaops:plan', license: 'stellaops:license', tenant: 'tid' });
    expect(config.authority.dpop).toMatchObject({ maxAgeSeconds: 60, requireNonce: false, replayCacheSize: 250_000 });
    expect(config.authority.algorithms).not.toContain('HS256');
    expect(config.ledger).toMatchObject({ driver: 'file', path: 'var/ledger', onUnavailable: 'reject' });
    expect(config.ledger.mongodb).toBeUndefined();
    expect(config.plans).toEqual({});
    expect(config.defaultPlan).toBeUndefined();
    expect(config.revokedLicenses).toEqual([]);
    expect(config.registry.allowedServices).toEqual([]);
    expect(config.admin.requiredScope).toBe('registry.token.admin');
    expect(config.telemetry.logLevel).toBe('info');
    expect(config.credentials).toEqual({ enabled: true, requiredScope: 'registry.token.issue', defaultLifetimeSeconds: 86400, maxLifetimeSeconds: 2592000, minLifetimeSeconds: 60, bundleMaxLifetimeSeconds: 7776000 });
  });

  it('defaults a plan rule’s actions to pull', () => {
    const config = parseConfig({ ...minimal(), plans: { community: [{ repository: 'library/**' }] } });
    expect(config.plans.community).toEqual([{ repository: 'library/**', actions: ['pull'] }]);
  });

  it('does not change the document it is given', () => {
    const document = minimal();
    const copy = structuredClone(document);
    parseConfig(document);
    expect(document).toEqual(copy);
  });
});

describe('the reference configuration etc/registry-token.yaml', () => {
  it('parses, and says what its comments say', () => {
    const config = loadConfig({ path: REFERENCE, env: {} });
    expect(config.server.port).toBe(8085);
    expect(config.authority.issuer).toBe('http://127.0.0.1:8086');
    expect(config.signing.keyPath).toBe('etc/registry-signing-sample.pem');
    expect(Object.keys(config.plans)).toEqual(['community', 'team', 'tenant', 'operator']);
    expect(config.defaultPlan).toBe('community');
    expect(config.plans.operator).toContainEqual({ registry: 'catalog', actions: ['*'] });
  });
});

describe('readConfigFile and loadConfig: file problems', () => {
  it('a missing file', () => {
    const path = join(dir, 'missing.yaml');
    expect(configError(() => loadConfig({ path, env: {} })).problems).toEqual([`${path}: cannot read the configuration file (ENOENT)`]);
  });

  it.each([
    ['bad indentation', 'server:\n  port: 1\n bad: [\n', /bad indentation/],
    ['a duplicated key', 'server: {}\nserver: {}\n', /duplicated mapping key/],
    ['an unclosed flow sequence', 'plans: [a, b\n', /./],
  ])('invalid YAML (%s): one line with the position, no stack or excerpt', (_label, text, what) => {
    const path = writeYaml(text);
    const [problem, ...rest] = configError(() => readConfigFile(path)).problems;
    expect(rest).toEqual([]);
    expect(problem).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid YAML: `));
    expect(problem).toMatch(what);
    expect(problem).toMatch(/\(\d+:\d+\)/);
    expect(problem).not.toContain('\n');
  });

  it.each([
    ['a sequence', '- server\n- authority\n'],
    ['a string', 'just text\n'],
    ['a number', '42\n'],
  ])('the top level is %s, not a mapping', (_label, text) => {
    const path = writeYaml(text);
    expect(configError(() => readConfigFile(path)).problems).toEqual([`${path}: the top level must be a mapping of sections (server, authority, ...)`]);
  });

  it('a null document reads as an empty one, which then lacks the required sections', () => {
    const path = writeYaml('~\n');
    expect(readConfigFile(path)).toEqual({});
    expect(configError(() => loadConfig({ path, env: {} })).problems).toEqual([
      'authority: is required',
      'signing: is required',
      'registry: is required',
    ]);
  });

  it.each([
    ['empty', ''],
    ['blank', '\n  \n'],
    ['comments only', '# nothing yet\n  # still nothing\n'],
  ])('an %s file counts as {} (docs/configuration.md), so only the required sections are missing', (_label, text) => {
    // js-yaml 5 alone refuses these ("expected a document, but the input is empty").
    const path = writeYaml(text);
    expect(readConfigFile(path)).toEqual({});
    expect(configError(() => loadConfig({ path, env: {} })).problems).toEqual([
      'authority: is required',
      'signing: is required',
      'registry: is required',
    ]);
  });

  it('an empty file with every required key from the environment is a whole configuration', () => {
    const path = writeYaml('');
    const config = loadConfig({
      path,
      env: {
        REGISTRY_TOKEN_AUTHORITY__ISSUER: 'https://authority.test',
        REGISTRY_TOKEN_AUTHORITY__AUDIENCES: 'registry-token',
        REGISTRY_TOKEN_SIGNING__ISSUER: 'registry-token',
        REGISTRY_TOKEN_SIGNING__KEYPATH: '/k.pem',
        REGISTRY_TOKEN_REGISTRY__REALM: 'https://t.test/token',
      },
    });
    expect(config.authority.audiences).toEqual(['registry-token']);
  });

  it('loads a minimal file', () => {
    const path = writeYaml(dump(minimal()));
    expect(loadConfig({ path, env: {} }).signing.lifetimeSeconds).toBe(300);
  });
});

describe('parseConfig: every problem names its key', () => {
  type Doc = Record<string, any>;
  // label, how to break the minimal document, the expected problems (exact or pattern)
  const table: [string, (doc: Doc) => void, (string | RegExp)[]][] = [
    ['missing authority.issuer', (d) => delete d.authority.issuer, ['authority.issuer: is required']],
    ['missing registry.realm', (d) => delete d.registry.realm, ['registry.realm: is required']],
    ['an issuer that is not a string', (d) => (d.authority.issuer = 42), ['authority.issuer: must be an absolute URL']],
    ['missing authority.audiences', (d) => delete d.authority.audiences, ['authority.audiences: is required']],
    ['missing signing section', (d) => delete d.signing, ['signing: is required']],
    ['unknown top-level key', (d) => (d.bogus = 1), ['bogus: unknown key']],
    ['unknown nested key', (d) => (d.server = { bogus: 1 }), ['server.bogus: unknown key']],
    ['unknown deep key', (d) => (d.authority.dpop = { maxAge: 1 }), ['authority.dpop.maxAge: unknown key']],
    ['a misspelt key', (d) => (d.signing.lifetime = 120), ['signing.lifetime: unknown key']],
    ['lifetimeSeconds 30', (d) => (d.signing.lifetimeSeconds = 30), ['signing.lifetimeSeconds: must be at least 60 (clients refuse shorter tokens)']],
    ['lifetimeSeconds 7200', (d) => (d.signing.lifetimeSeconds = 7200), ['signing.lifetimeSeconds: must be at most 3600 (registry tokens are short-lived)']],
    ['lifetimeSeconds 90.5', (d) => (d.signing.lifetimeSeconds = 90.5), ['signing.lifetimeSeconds: must be a whole number of seconds from 60 to 3600']],
    ['lifetimeSeconds as a string', (d) => (d.signing.lifetimeSeconds = '300'), [/^signing\.lifetimeSeconds: .*expected number/]],
    ['port out of range', (d) => (d.server = { port: 70000 }), [/^server\.port: /]],
    ['a bad action in a plan rule', (d) => (d.plans = { team: [{ repository: 'team/**', actions: ['pull', 'fly'] }] }), ['plans.team[0].actions[1]: must be one of pull, push, delete, *']],
    ['a bad repository pattern', (d) => (d.plans = { team: [{ repository: 'a**b' }] }), ['plans.team[0].repository: "**" must be a whole segment in "a**b"']],
    ['an unknown placeholder', (d) => (d.plans = { team: [{ repository: 'x/{user}/**' }] }), [/^plans\.team\[0\]\.repository: unknown placeholder \{user\}/]],
    ['no actions in a plan rule', (d) => (d.plans = { team: [{ repository: 'team/**', actions: [] }] }), [/^plans\.team\[0\]\.actions: /]],
    [
      'a rule with both repository and registry',
      (d) => (d.plans = { team: [{ repository: 'a/**', registry: 'catalog' }] }),
      ['plans.team[0]: a rule names exactly one of repository (a pattern) or registry (catalog)'],
    ],
    [
      'a rule with neither repository nor registry',
      (d) => (d.plans = { team: [{ repository: 'ok/**' }, { actions: ['pull'] }] }),
      ['plans.team[1]: a rule names exactly one of repository (a pattern) or registry (catalog)'],
    ],
    ['a registry rule other than catalog', (d) => (d.plans = { ops: [{ registry: 'tags' }] }), ['plans.ops[0].registry: the only registry resource is "catalog"']],
    ['an unknown key in a plan rule', (d) => (d.plans = { ops: [{ repository: 'a/**', action: ['pull'] }] }), ['plans.ops[0].action: unknown key']],
    ['defaultPlan naming an undefined plan', (d) => ((d.plans = { team: [] }), (d.defaultPlan = 'gold')), ['defaultPlan: names plan "gold", which is not defined under plans']],
    [
      'the credential audience as a registry service',
      (d) => (d.registry.allowedServices = ['registry.example', 'urn:registry-token:credential']),
      ['registry.allowedServices[1]: "urn:registry-token:credential" is the audience of registry credentials and cannot be a registry service'],
    ],
    [
      'credentials.minLifetimeSeconds above the maximum',
      (d) => (d.credentials = { minLifetimeSeconds: 600, maxLifetimeSeconds: 300, defaultLifetimeSeconds: 400 }),
      ['credentials.minLifetimeSeconds: must not exceed credentials.maxLifetimeSeconds (300)'],
    ],
    [
      'credentials.defaultLifetimeSeconds beyond the maximum',
      (d) => (d.credentials = { maxLifetimeSeconds: 3600 }),
      ['credentials.defaultLifetimeSeconds: must be from credentials.minLifetimeSeconds (60) to credentials.maxLifetimeSeconds (3600)'],
    ],
    ['credentials.maxLifetimeSeconds not whole', (d) => (d.credentials = { maxLifetimeSeconds: 90.5 }), ['credentials.maxLifetimeSeconds: must be a whole number of seconds']],
    ['ledger driver mongodb without ledger.mongodb', (d) => (d.ledger = { driver: 'mongodb' }), ['ledger.mongodb: is required when ledger.driver is mongodb']],
    ['an unknown ledger driver', (d) => (d.ledger = { driver: 'redis' }), [/^ledger\.driver: /]],
    ['store driver redis without store.redis', (d) => (d.store = { driver: 'redis' }), ['store.redis: is required when store.driver is redis']],
    ['a store.redis.url that is not redis://', (d) => (d.store = { driver: 'redis', redis: { url: 'http://cache:6379' } }), ['store.redis.url: must be a redis:// or rediss:// URL with a host']],
    [
      'store.redis.tls with a plain redis:// url',
      (d) => (d.store = { driver: 'redis', redis: { url: 'redis://cache:6379', tls: { caPath: '/etc/ca.pem' } } }),
      ['store.redis.tls: needs a rediss:// url (redis:// is plain TCP)'],
    ],
    [
      'a client certificate without its key',
      (d) => (d.store = { driver: 'redis', redis: { url: 'rediss://cache:6380', tls: { certPath: '/etc/client.pem' } } }),
      ['store.redis.tls: certPath and keyPath go together (a client certificate and its key)'],
    ],
    [
      'sentinels with an address and port in store.redis.url',
      (d) => (d.store = { driver: 'redis', redis: { url: 'redis://cache:6379', sentinels: ['10.0.0.1:26379'] } }),
      ['store.redis.url: with sentinels, the host is the master group\'s name, without a port (redis://mymaster); the Sentinels say where the primary is'],
    ],
    [
      'a sentinel without its port',
      (d) => (d.store = { driver: 'redis', redis: { url: 'redis://mymaster', sentinels: ['10.0.0.1:26379', 'sentinel-2'] } }),
      ['store.redis.sentinels[1]: must be host:port (an IPv6 address in brackets)'],
    ],
    [
      'an empty sentinels list',
      (d) => (d.store = { driver: 'redis', redis: { url: 'redis://mymaster', sentinels: [] } }),
      ['store.redis.sentinels: needs at least one Sentinel, or leave sentinels out'],
    ],
    [
      'a Sentinel password without sentinels',
      (d) => (d.store = { driver: 'redis', redis: { url: 'redis://cache:6379', sentinelPassword: 'secret-secret' } }),
      ['store.redis.sentinels: is required with sentinelUsername or sentinelPassword'],
    ],
    ['an unknown onStoreUnavailable', (d) => (d.store = { onStoreUnavailable: 'fail-open' }), [/^store\.onStoreUnavailable: /]],
    [
      'HS256 and none in authority.algorithms',
      (d) => (d.authority.algorithms = ['ES256', 'HS256', 'none']),
      [/^authority\.algorithms\[1\]: must be one of RS256.*\(symmetric and "none" are never accepted\)$/, /^authority\.algorithms\[2\]: must be one of /],
    ],
    ['HS256 in authority.dpop.algorithms', (d) => (d.authority.dpop = { algorithms: ['HS256'] }), [/^authority\.dpop\.algorithms\[0\]: must be one of /]],
    ['an empty algorithm list', (d) => (d.authority.algorithms = []), [/^authority\.algorithms: /]],
    ['a relative issuer URL', (d) => (d.authority.issuer = 'authority.test'), ['authority.issuer: must be an absolute URL']],
    ['a realm that is not a URL', (d) => (d.registry.realm = 'not a url'), ['registry.realm: must be an absolute URL']],
    ['a bad publicUrl', (d) => (d.server = { publicUrl: '/token' }), ['server.publicUrl: must be an absolute URL']],
    ['no audiences', (d) => (d.authority.audiences = []), ['authority.audiences: must name at least one audience']],
    ['an empty signing.issuer', (d) => (d.signing.issuer = ''), ['signing.issuer: must not be empty']],
    ['a short nonce secret', (d) => (d.authority.dpop = { nonceSecret: 'short' }), ['authority.dpop.nonceSecret: must be at least 16 characters']],
    ['an unknown senderConstraint', (d) => (d.authority.senderConstraint = 'none'), [/^authority\.senderConstraint: /]],
  ];
  it.each(table)('%s', (_label, breakIt, expected) => {
    const doc = minimal();
    breakIt(doc);
    const { problems } = configError(() => parseConfig(doc));
    expect(problems).toHaveLength(expected.length);
    expected.forEach((want, i) => {
      if (typeof want === 'string') expect(problems[i]).toBe(want);
      else expect(problems[i]).toMatch(want);
    });
  });

  it('takes Sentinels: host:port or [IPv6]:port, the URL naming the master group (and its db)', () => {
    const doc = minimal();
    doc.store = { driver: 'redis', redis: { url: 'rediss://mymaster/2', sentinels: ['10.0.0.1:26379', '[fd00::2]:26379'], sentinelPassword: 'sentinel-secret' } };
    const config = parseConfig(doc);
    expect(config.store.redis).toMatchObject({ url: 'rediss://mymaster/2', sentinels: ['10.0.0.1:26379', '[fd00::2]:26379'], sentinelPassword: 'sentinel-secret' });
  });

  it('reports every problem at once', () => {
    const doc = minimal();
    doc.signing.lifetimeSeconds = 7200;
    doc.server = { bogus: true };
    doc.registry.realm = 'x';
    const { problems } = configError(() => parseConfig(doc));
    expect(problems).toEqual(
      expect.arrayContaining(['server.bogus: unknown key', 'signing.lifetimeSeconds: must be at most 3600 (registry tokens are short-lived)', 'registry.realm: must be an absolute URL']),
    );
  });

  it('the top level must be an object', () => {
    expect(configError(() => parseConfig([])).problems[0]).toMatch(/^\(top level\): /);
  });
});
