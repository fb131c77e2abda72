// server.clientCertificateHeader and rateLimits: what start-up accepts and what it refuses.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/loader.ts';
import { ConfigError } from '../../src/domain/errors.ts';
import { baseConfig } from '../support/stack.ts';

const base = baseConfig({ issuer: 'https://authority.example' }, '/tmp/unused');

function problems(overrides: Record<string, unknown>): string[] {
  try {
    parseConfig({ ...base, ...overrides });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

const server = (extra: Record<string, unknown>) => ({ server: { ...(base.server as object), ...extra } });

describe('server.clientCertificateHeader', () => {
  it('is absent by default: no certificate is read from any header', () => {
    expect(parseConfig(base).server.clientCertificateHeader).toBeUndefined();
  });

  it('takes a header name and a format, with trusted proxies', () => {
    const config = parseConfig({ ...base, ...server({ trustedProxies: ['10.0.0.5'], clientCertificateHeader: { name: 'X-SSL-Client-Cert', format: 'pem-urlencoded' } }) });
    expect(config.server.clientCertificateHeader).toEqual({ name: 'X-SSL-Client-Cert', format: 'pem-urlencoded' });
  });

  it('is refused without trusted proxies, naming the key', () => {
    expect(problems(server({ clientCertificateHeader: { name: 'Client-Cert', format: 'rfc9440' } }))).toEqual([
      expect.stringMatching(/^server\.clientCertificateHeader: needs server\.trustedProxies/),
    ]);
  });

  it.each([
    [{ name: 'Authorization', format: 'rfc9440' }, /must not be one of/],
    [{ name: 'dpop', format: 'rfc9440' }, /must not be one of/],
    [{ name: 'X-Forwarded-For', format: 'rfc9440' }, /must not be one of/],
    [{ name: 'Client Cert', format: 'rfc9440' }, /must be an HTTP header name/],
    [{ name: 'Client-Cert', format: 'der' }, /format/],
    [{ name: 'Client-Cert' }, /format/],
  ])('refuses %j', (header, message) => {
    const found = problems(server({ trustedProxies: ['10.0.0.5'], clientCertificateHeader: header }));
    expect(found.join('\n')).toMatch(message);
  });
});

describe('rateLimits', () => {
  it('takes partial sections: the other keys keep their defaults', () => {
    const config = parseConfig({ ...base, rateLimits: { perClient: { max: 10 } } });
    expect(config.rateLimits.perClient).toEqual({ max: 10, windowSeconds: 60 });
    expect(config.rateLimits.perAddress).toEqual({ max: 6000, windowSeconds: 60 });
  });

  it.each([
    [{ perAddress: { max: 0 } }, /rateLimits\.perAddress\.max/],
    [{ perClient: { windowSeconds: 0.5 } }, /rateLimits\.perClient\.windowSeconds/],
    [{ failedAuthPerAddress: { windowSeconds: 100_000 } }, /rateLimits\.failedAuthPerAddress\.windowSeconds/],
    [{ perIp: { max: 1 } }, /perIp/],
  ])('refuses %j', (rateLimits, message) => {
    expect(problems({ rateLimits }).join('\n')).toMatch(message);
  });
});
