import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/client/challenge.ts';
import { ClientError } from '../../src/client/errors.ts';
import { endpoint, isLoopback, registryName, secureUrl, tokenServiceBase } from '../../src/client/urls.ts';

describe('WWW-Authenticate', () => {
  it("reads distribution's Bearer challenge", () => {
    const [challenge] = parseChallenges('Bearer realm="http://127.0.0.1:8085/token",service="registry.localhost"');
    expect(challenge).toEqual({ scheme: 'bearer', params: { realm: 'http://127.0.0.1:8085/token', service: 'registry.localhost' } });
  });

  it('several challenges in one header, quoted commas and escapes, token values, any case', () => {
    const challenges = parseChallenges('Basic realm="a, b", BEARER Realm="https://t/token?x=\\"1\\"", scope=repository:x:pull,  DPoP algs="ES256 RS256"');
    expect(challenges).toEqual([
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'https://t/token?x="1"', scope: 'repository:x:pull' } },
      { scheme: 'dpop', params: { algs: 'ES256 RS256' } },
    ]);
  });

  it('a scheme without parameters, an unterminated quote, an empty header', () => {
    expect(parseChallenges('Negotiate, Bearer realm="x"')).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
    expect(parseChallenges('Bearer realm="x')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('registry names', () => {
  it('host[:port] as docker writes it, lower case, with or without a scheme and a path', () => {
    expect(registryName('Registry.Example.com:5000')).toEqual({ host: 'registry.example.com:5000', scheme: undefined });
    expect(registryName('https://index.docker.io/v1/')).toEqual({ host: 'index.docker.io', scheme: 'https' });
    expect(registryName('http://127.0.0.1:5000')).toEqual({ host: '127.0.0.1:5000', scheme: 'http' });
    expect(registryName('[::1]:5000').host).toBe('[::1]:5000');
  });

  it('refuses what is not a registry', () => {
    for (const bad of ['', 'ftp://x', 'user:pw@host', 'http://']) expect(() => registryName(bad)).toThrow(ClientError);
  });
});

describe('URLs a secret is sent to', () => {
  it('plain HTTP only to loopback or when allowed', () => {
    expect(secureUrl('http://127.0.0.1:8080', '--issuer', false).origin).toBe('http://127.0.0.1:8080');
    expect(secureUrl('http://localhost:8080', '--issuer', false).origin).toBe('http://localhost:8080');
    expect(() => secureUrl('http://authority.example', '--issuer', false)).toThrow(/--issuer: http:\/\/authority\.example is plain HTTP; use https, or allow it with --insecure/);
    expect(secureUrl('http://authority.example', '--issuer', true).protocol).toBe('http:');
    expect(() => secureUrl('https://u:p@authority.example', '--issuer', false)).toThrow(/must not carry a user or password/);
    expect(() => secureUrl('authority.example', '--issuer', false)).toThrow(/not an http\(s\) URL/);
  });

  it('loopback is 127/8, ::1 and localhost', () => {
    expect(['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost', 'a.localhost'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com'].some(isLoopback)).toBe(false);
  });

  it('the token service base from its realm or as given, keeping a path prefix', () => {
    expect(tokenServiceBase(new URL('https://t.example/token?service=x')).href).toBe('https://t.example/');
    expect(tokenServiceBase(new URL('https://t.example/auth/token/')).href).toBe('https://t.example/auth');
    expect(tokenServiceBase(new URL('https://t.example/auth')).href).toBe('https://t.example/auth');
    expect(endpoint(new URL('https://t.example/auth'), 'credentials').href).toBe('https://t.example/auth/credentials');
    expect(endpoint(new URL('https://t.example/'), 'credentials').href).toBe('https://t.example/credentials');
  });
});
