// The schema's rules for the two forms of `signing`: one key (keyPath) or a key set
// (keys + activeKeyId), each refusal naming the key to fix.
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/loader.ts';
import { configError } from '../support/thrown.ts';

const base = (signing: Record<string, unknown>) => ({
  authority: { issuer: 'https://authority.test', audiences: ['registry-token'] },
  signing: { issuer: 'registry-token', ...signing },
  registry: { realm: 'https://registry-token.test/token' },
});
const problems = (signing: Record<string, unknown>) => configError(() => parseConfig(base(signing))).problems;

describe('signing: keyPath or keys', () => {
  it('accepts a key set with its active key id', () => {
    const config = parseConfig(base({ keys: [{ path: '/k/a.pem', certificatePath: '/k/a.crt' }, { id: 'b', path: '/k/b.p12', passwordEnv: 'B_KEY_PASSWORD' }], activeKeyId: 'b' }));
    expect(config.signing.keys).toEqual([{ path: '/k/a.pem', certificatePath: '/k/a.crt' }, { id: 'b', path: '/k/b.p12', passwordEnv: 'B_KEY_PASSWORD' }]);
    expect(config.signing.activeKeyId).toBe('b');
  });

  it('accepts one key in the set without activeKeyId', () => {
    expect(parseConfig(base({ keys: [{ path: '/k/a.pem' }] })).signing.activeKeyId).toBeUndefined();
  });

  it('refuses neither form, both forms, and single-key options next to keys', () => {
    expect(problems({})).toEqual(['signing.keys: is required (or signing.keyPath for a single key)']);
    expect(problems({ keyPath: '/k/a.pem', keys: [{ path: '/k/b.pem' }] })).toEqual(['signing.keyPath: set either keyPath (one key) or keys (a key set), not both']);
    expect(problems({ keys: [{ path: '/k/b.pem' }], certificatePath: '/k/b.crt', keyPassword: 'x' })).toEqual([
      'signing.keyPassword: belongs to signing.keyPath; with signing.keys set it on each key',
      'signing.certificatePath: belongs to signing.keyPath; with signing.keys set it on each key',
    ]);
    expect(problems({ keyPath: '/k/a.pem', activeKeyId: 'a' })).toEqual(['signing.activeKeyId: names a key of signing.keys, which is not set']);
  });

  it('refuses several keys without activeKeyId, repeated ids, an empty list, unknown entry keys', () => {
    expect(problems({ keys: [{ path: '/k/a.pem' }, { path: '/k/b.pem' }] })).toEqual(['signing.activeKeyId: is required when signing.keys lists more than one key']);
    expect(problems({ keys: [{ id: 'x', path: '/k/a.pem' }, { id: 'x', path: '/k/b.pem' }], activeKeyId: 'x' })).toEqual(['signing.keys[1].id: "x" is already the id of signing.keys[0]']);
    expect(problems({ keys: [] })).toEqual(['signing.keys: must list at least one key']);
    expect(problems({ keys: [{ path: '/k/a.pem', keyPath: '/k/a.pem' }] })).toEqual(['signing.keys[0].keyPath: unknown key']);
  });

  it('refuses a passwordEnv that is not a variable name or would be read as a configuration override', () => {
    expect(problems({ keys: [{ path: '/k/a.pem', passwordEnv: 'has space' }] })).toEqual(['signing.keys[0].passwordEnv: must be an environment variable name']);
    expect(problems({ keys: [{ path: '/k/a.pem', passwordEnv: 'REGISTRY_TOKEN_KEY_PASS' }] })).toEqual([
      'signing.keys[0].passwordEnv: must not start with REGISTRY_TOKEN_ (those variables override configuration keys)',
    ]);
  });

  it('takes activeKeyId from the environment like any other key', () => {
    const config = loadConfig({
      env: {
        REGISTRY_TOKEN_AUTHORITY__ISSUER: 'https://authority.test',
        REGISTRY_TOKEN_AUTHORITY__AUDIENCES: 'registry-token',
        REGISTRY_TOKEN_SIGNING__ISSUER: 'registry-token',
        REGISTRY_TOKEN_SIGNING__KEYS: '[{"path":"/k/a.pem"},{"id":"b","path":"/k/b.pem"}]',
        REGISTRY_TOKEN_SIGNING__ACTIVEKEYID: 'b',
        REGISTRY_TOKEN_REGISTRY__REALM: 'https://registry-token.test/token',
      },
    });
    expect(config.signing.activeKeyId).toBe('b');
    expect(config.signing.keys).toHaveLength(2);
  });
});
