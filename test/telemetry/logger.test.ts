import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, redactPaths } from '../../src/telemetry/logger.ts';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2VuLXBheWxvYWQ.c2lnbmF0dXJl';

function capture(): { lines: string[]; destination: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

describe('createLogger', () => {
  it('never writes a token, proof, password or credential header', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'trace', destination });
    logger.info({
      req: {
        method: 'GET',
        url: '/token',
        headers: {
          authorization: `DPoP ${TOKEN}`,
          dpop: TOKEN,
          'ssl-client-cert': `-----BEGIN CERTIFICATE-----${TOKEN}`,
          'x-forwarded-client-cert': `Hash=${TOKEN}`,
          'client-cert': `:${TOKEN}:`,
          cookie: `session=${TOKEN}`,
        },
      },
    }, 'request');
    logger.info({ token: TOKEN, access_token: TOKEN, proof: TOKEN, password: TOKEN }, 'top level');
    logger.info({ response: { token: TOKEN, access_token: TOKEN, expires_in: 300 } }, 'one level');
    logger.info({ config: { signing: { keyPassword: TOKEN, keyPath: '/etc/key.pem' } } }, 'two levels');
    logger.warn({ body: { refresh_token: TOKEN, client_secret: TOKEN, grant_type: 'refresh_token' } }, 'form');
    logger.error({ headers: { Authorization: `Bearer ${TOKEN}`, authorization: `Bearer ${TOKEN}` } }, 'headers');

    const output = lines.join('');
    expect(lines).toHaveLength(6);
    expect(output).not.toContain(TOKEN);
    // Only the secrets go; the fields around them stay useful.
    expect(output).toContain('"url":"/token"');
    expect(output).toContain('"expires_in":300');
    expect(output).toContain('"keyPath":"/etc/key.pem"');
    expect(output).toContain('"grant_type":"refresh_token"');
    expect(output).toContain(`"authorization":"${REDACTED}"`);
  });

  it('exports the same paths for Fastify, including the brief header set', () => {
    expect(redactPaths).toEqual(expect.arrayContaining([
      'req.headers.authorization',
      'req.headers.dpop',
      'req.headers["ssl-client-cert"]',
      'req.headers["x-forwarded-client-cert"]',
      'req.headers["client-cert"]',
      '*.token',
      '*.access_token',
      '*.proof',
      '*.password',
      '*.keyPassword',
    ]));
  });

  it('honours the level', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'warn', destination });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
  });

  it('serves as the Fastify logger and censors headers a handler logs', async () => {
    const { lines, destination } = capture();
    const app = Fastify({ loggerInstance: createLogger({ level: 'info', destination }) });
    app.get('/token', async (request) => {
      request.log.info({ headers: request.headers }, 'headers seen');
      return { ok: true };
    });
    try {
      const reply = await app.inject({ method: 'GET', url: '/token', headers: { authorization: `Bearer ${TOKEN}`, dpop: TOKEN } });
      expect(reply.statusCode).toBe(200);
    } finally {
      await app.close();
    }
    const output = lines.join('');
    expect(output).toContain('headers seen');
    expect(output).toContain('incoming request');
    expect(output).not.toContain(TOKEN);
  });
});
