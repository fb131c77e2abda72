// The per-request logger is made only when a request logs something, and then carries the
// request id like pino's own child would.
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { lazyRequestLogger } from '../../src/http/request-logger.ts';

function collecting(level: 'info' | 'warn') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

describe('the lazy request logger', () => {
  it('makes no child for a request that logs nothing', () => {
    const { logger } = collecting('info');
    const child = vi.spyOn(logger, 'child');
    lazyRequestLogger(logger, { reqId: 'r-1' }, {});
    expect(child).not.toHaveBeenCalled();
  });

  it('binds the request id on the first line, and makes the child once', () => {
    const { logger, lines } = collecting('info');
    const child = vi.spyOn(logger, 'child');
    const log = lazyRequestLogger(logger, { reqId: 'r-2' }, {});
    log.info({ kind: 'license' }, 'revocation added');
    log.warn('second');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.reqId, l.msg, l.level])).toEqual([
      ['r-2', 'revocation added', 30],
      ['r-2', 'second', 40],
    ]);
    expect(lines[0]!.kind).toBe('license');
  });

  it('costs nothing at a level that is off, and answers the parent level', () => {
    const { logger, lines } = collecting('warn');
    const child = vi.spyOn(logger, 'child');
    const log = lazyRequestLogger(logger, { reqId: 'r-3' }, {});
    log.info('not written');
    log.debug('not written');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    expect(log.level).toBe('warn');
    log.error({ err: new Error('boom') }, 'unexpected error');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.reqId).toBe('r-3');
  });

  it('gives a child of the request logger the request id too', () => {
    const { logger, lines } = collecting('info');
    lazyRequestLogger(logger, { reqId: 'r-4' }, {}).child({ part: 'x' }).info('deeper');
    expect(lines[0]).toMatchObject({ reqId: 'r-4', part: 'x', msg: 'deeper' });
  });
});
