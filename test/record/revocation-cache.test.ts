import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LedgerLogger } from '../../src/record/deps.ts';
import type { Revocation } from '../../src/record/ledger.ts';
import { watchRevocations } from '../../src/record/revocation-cache.ts';
import type { RevocationWatch } from '../../src/record/revocation-cache.ts';
import { recordingLogger } from './fixtures.ts';

const revoked = (value: string): Revocation => ({ kind: 'license', value, reason: 'test', revokedAt: '2025-03-01T12:00:00.000Z' });

describe('revocation watch', () => {
  let watch: RevocationWatch | undefined;
  afterEach(() => {
    watch?.close();
    vi.useRealTimers();
  });

  it('answers from memory, re-reads on each poll, and keeps the last list when a read fails', async () => {
    vi.useFakeTimers();
    let list: Revocation[] = [revoked('lic-1')];
    let failing = false;
    const store = { listRevocations: async () => (failing ? Promise.reject(new Error('store down')) : list) };
    const logger = recordingLogger();
    watch = await watchRevocations(store, { pollSeconds: 2, logger });
    expect(watch.find('license', 'lic-1')).toEqual(revoked('lic-1'));
    expect(watch.find('subject', 'lic-1')).toBeUndefined();

    list = [revoked('lic-2')];
    await vi.advanceTimersByTimeAsync(2000);
    expect(watch.find('license', 'lic-1')).toBeUndefined();
    expect(watch.find('license', 'lic-2')).toBeDefined();

    failing = true;
    await vi.advanceTimersByTimeAsync(4000);
    expect(watch.find('license', 'lic-2')).toBeDefined();
    expect(logger.entries.filter((e) => e.level === 'warn')).toHaveLength(1);

    failing = false;
    list = [];
    await watch.refresh();
    expect(watch.list()).toEqual([]);
  });

  it('starts without the list when the store is down, not ready until a read succeeds', async () => {
    vi.useFakeTimers();
    let failing = true;
    const store = { listRevocations: async () => (failing ? Promise.reject(new Error('store down')) : [revoked('lic-9')]) };
    const seen: Revocation[][] = [];
    watch = await watchRevocations(store, { pollSeconds: 2, logger: recordingLogger(), onChange: (list) => seen.push(list) });
    expect(watch.loaded()).toBe(false);
    expect(seen).toEqual([]);
    failing = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(watch.loaded()).toBe(true);
    expect(seen).toEqual([[revoked('lic-9')]]);
    expect(watch.find('license', 'lic-9')).toBeDefined();
  });

  it('takes a pino logger as it is', () => {
    const logger: LedgerLogger = pino({ level: 'silent' });
    expect(typeof logger.warn).toBe('function');
  });
});
