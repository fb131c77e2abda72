// The protocol layer alone, over an in-memory source: what goes to stdout and the exit status
// for each action. The real helper against the real service is in credential-helper.test.ts.
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../src/client/errors.ts';
import { NOT_FOUND, runHelperAction, type CredentialSource, type HelperCredentials } from '../../src/client/helper-protocol.ts';

function memory(): CredentialSource & { stored: HelperCredentials[]; erased: string[] } {
  const stored: HelperCredentials[] = [];
  const erased: string[] = [];
  return {
    stored,
    erased,
    async get(url) {
      if (url === 'broken.example') throw new ClientError('cannot reach https://authority.example (ECONNREFUSED)');
      return url === 'r.example' ? { username: '<token>', secret: 's3cret' } : undefined;
    },
    async store(credentials) {
      stored.push(credentials);
    },
    async erase(url) {
      erased.push(url);
    },
    async list() {
      return { 'r.example': '<token>' };
    },
  };
}

describe('docker-credential-helpers protocol', () => {
  it('get: the server URL on stdin (whitespace trimmed), the credentials as JSON', async () => {
    expect(await runHelperAction('get', 'r.example\n', memory(), 'v')).toEqual({
      stdout: '{"ServerURL":"r.example","Username":"<token>","Secret":"s3cret"}\n',
      code: 0,
    });
  });

  it('get: nothing for that server is the standard not-found message and exit 1', async () => {
    expect(await runHelperAction('get', 'other.example', memory(), 'v')).toEqual({ stdout: `${NOT_FOUND}\n`, code: 1 });
    expect(NOT_FOUND).toBe('credentials not found in native keychain');
    expect(await runHelperAction('get', '  \n', memory(), 'v')).toEqual({ stdout: 'no credentials server URL\n', code: 1 });
  });

  it('a failure is its one line on stdout and exit 1', async () => {
    expect(await runHelperAction('get', 'broken.example', memory(), 'v')).toEqual({
      stdout: 'cannot reach https://authority.example (ECONNREFUSED)\n',
      code: 1,
    });
    expect((await runHelperAction('frobnicate', '', memory(), 'v')).code).toBe(1);
  });

  it('store validates like the reference helpers, then hands over; erase gets the URL; list and version', async () => {
    const source = memory();
    expect(await runHelperAction('store', '{"ServerURL":"r.example","Username":"u","Secret":"p"}', source, 'v')).toEqual({ stdout: '', code: 0 });
    expect(source.stored).toEqual([{ ServerURL: 'r.example', Username: 'u', Secret: 'p' }]);
    expect(await runHelperAction('store', '{"ServerURL":"r.example"}', source, 'v')).toEqual({ stdout: 'no credentials username\n', code: 1 });
    expect(await runHelperAction('store', 'not json', source, 'v')).toMatchObject({ code: 1 });
    expect(await runHelperAction('erase', 'r.example\n', source, 'v')).toEqual({ stdout: '', code: 0 });
    expect(source.erased).toEqual(['r.example']);
    expect(await runHelperAction('list', '', source, 'v')).toEqual({ stdout: '{"r.example":"<token>"}\n', code: 0 });
    expect(await runHelperAction('version', '', source, 'name 1.2.3')).toEqual({ stdout: 'name 1.2.3\n', code: 0 });
  });
});
