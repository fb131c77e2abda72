// The primary driver (a worker of several reaching the primary's memory store over IPC) against
// the shared-state contract, over a pair of in-process channels that copy every message as the
// cluster channel does; and how it reports a primary that does not answer.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/errors.ts';
import { createLedger } from '../../src/record/index.ts';
import { ledgerRevocations, openStore } from '../../src/store/index.ts';
import { openLink, type Channel } from '../../src/workers/link.ts';
import { openStoreHost } from '../../src/workers/store-host.ts';
import { recordingLogger, tempDir } from '../record/fixtures.ts';
import { SHARE, sharedStoreContract } from './contract.ts';

/** Two ends of a channel: what one sends, the other receives (a structured copy, later). */
function channelPair(): [Channel & { disconnect(): void }, Channel & { disconnect(): void }] {
  const make = () => Object.assign(new EventEmitter(), { connected: true });
  const a = make();
  const b = make();
  const end = (self: typeof a, other: typeof b) => ({
    send: (message: unknown) => {
      setImmediate(() => other.emit('message', structuredClone(message)));
      return true;
    },
    on: (event: 'message', listener: (message: unknown) => void) => self.on(event, listener),
    off: (event: 'message', listener: (message: unknown) => void) => self.off(event, listener),
    isConnected: () => self.connected,
    disconnect: () => {
      self.connected = false;
    },
  });
  return [end(a, b), end(b, a)];
}

sharedStoreContract('primary (over IPC)', async () => {
  const dir = await tempDir();
  const logger = recordingLogger();
  const ledger = await createLedger({ driver: 'file', path: dir.path, maxFileBytes: 1 << 20, onUnavailable: 'reject', spoolPath: `${dir.path}/spool` }, { logger });
  const clock = { now: Date.now() };
  const [workerEnd, primaryEnd] = channelPair();
  const host = openStoreHost({
    replay: { capacity: 1000, perClient: SHARE },
    revocations: ledgerRevocations(ledger),
    onRevocationChange: () => {},
    now: () => clock.now,
  });
  const primary = openLink(primaryEnd, host.handlers, { timeoutMs: 2000 });
  const link = openLink(workerEnd, {}, { timeoutMs: 2000 });
  const store = await openStore(
    { driver: 'memory', onStoreUnavailable: 'fail-closed' },
    { replay: { capacity: 1000, perClient: SHARE }, ledgerRevocations: ledgerRevocations(ledger), now: () => clock.now, logger, primary: { link, revocations: 'primary' } },
  );
  return {
    store,
    clock,
    async close() {
      await store.close();
      link.close();
      primary.close();
      await host.close();
      await ledger.close();
      await dir.remove();
    },
  };
});

describe('primary driver: a primary that does not answer', () => {
  it('is 503 store_unavailable naming the primary, and readiness says so', async () => {
    const [workerEnd] = channelPair();
    const link = openLink(workerEnd, {}, { timeoutMs: 50 });
    const none = async (): Promise<never> => {
      throw new Error('unused');
    };
    const store = await openStore(
      { driver: 'memory', onStoreUnavailable: 'fail-closed' },
      { replay: { capacity: 100, perClient: 10 }, ledgerRevocations: { list: none, put: none, delete: none }, now: Date.now, logger: recordingLogger(), primary: { link, revocations: 'primary' } },
    );
    const refused = await Promise.resolve(store.replay.remember('k', Date.now() + 1000, 'c')).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused).toMatchObject({ reason: 'store_unavailable', detail: expect.stringContaining('primary process: no answer to replay.remember within 50 ms') });
    workerEnd.disconnect();
    await expect(store.counters('per-client', { maxKeys: 10 }).incr('k', 1000)).rejects.toMatchObject({ reason: 'store_unavailable', detail: 'primary process: the IPC channel is closed' });
    await expect(store.check()).rejects.toThrow('the primary process does not answer');
    link.close();
  });
});
