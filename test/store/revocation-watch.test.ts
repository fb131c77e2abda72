import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Revocation, StoreLogger } from '../../src/store/store.ts';
import { watchRevocations } from '../../src/store/revocation-watch.ts';
import type { RevocationWatch } from '../../src/store/revocation-watch.ts';
import { recordingLogger } from '../record/fixtures.ts';

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
    const store = { list: async () => (failing ? Promise.reject(new Error('store down')) : list) };
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
    const store = { list: async () => (failing ? Promise.reject(new Error('store down')) : [revoked('lic-9')]) };
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

  it('re-reads at once when the store pushes a change, between polls, and stops listening on close', async () => {
    vi.useFakeTimers();
    let list: Revocation[] = [];
    const listeners = new Set<() => void>();
    const store = {
      list: async () => list,
      watch: (onChange: () => void) => {
        listeners.add(onChange);
        return () => listeners.delete(onChange);
      },
    };
    watch = await watchRevocations(store, { pollSeconds: 300, logger: recordingLogger() });
    expect(listeners.size).toBe(1);
    list = [revoked('lic-pushed')];
    for (const notify of listeners) notify();
    await vi.advanceTimersByTimeAsync(0);
    expect(watch.find('license', 'lic-pushed')).toBeDefined();
    watch.close();
    expect(listeners.size).toBe(0);
    watch = undefined;
  });

  it('takes a pino logger as it is', () => {
    const logger: StoreLogger = pino({ level: 'silent' });
    expect(typeof logger.warn).toBe('function');
  });
});
