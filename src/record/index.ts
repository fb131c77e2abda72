// The record stage's entry point: picks the driver named by `ledger.driver`, and wraps it in
// the spool when `ledger.onUnavailable` is `spool`. Callers see only `Ledger`.
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/types.ts';
import type { LedgerLogger } from './deps.ts';
import { AllChainsLedger } from './all-chains.ts';
import { writerDir } from './chains.ts';
import { ensureDir } from './atomic-file.ts';
import { acquireLock } from './dir-lock.ts';
import { openFileLedger, REVOCATIONS_FILE } from './file.ts';
import { RevocationFile } from './revocation-store.ts';
import type { Ledger } from './ledger.ts';
import { boundRefusals } from './refusals.ts';
import { openSpoolingLedger } from './spool.ts';

export interface LedgerDeps {
  /** pino's Logger fits. */
  readonly logger: LedgerLogger;
  readonly clock?: Clock;
  /** Called after each durable file-ledger write with its record count (metrics). */
  readonly onSync?: (records: number) => void;
  /**
   * One of several processes writing the file ledger (`worker-<n>`): it appends to its own chain
   * under `ledger.path` (and spools under `ledger.spoolPath`) and reads all of them (all-chains.ts).
   */
  readonly writer?: string | undefined;
}

type StoreKeys = 'driver' | 'path' | 'maxFileBytes' | 'mongodb' | 'retentionDays' | 'onUnavailable' | 'spoolPath';
/** `ledger` configuration: the store's keys are needed, the rest (refusals, ...) may be left to defaults. */
export type LedgerConfig = Pick<Config['ledger'], StoreKeys> & Partial<Omit<Config['ledger'], StoreKeys>>;

export async function createLedger(config: LedgerConfig, deps: LedgerDeps): Promise<Ledger> {
  const store = await openStore(config, deps);
  let durable: Ledger = store;
  if (config.onUnavailable === 'spool') {
    try {
      const dir = deps.writer === undefined ? config.spoolPath : writerDir(config.spoolPath, deps.writer);
      durable = await openSpoolingLedger(store, { dir, logger: deps.logger });
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  // Outermost, so that summaries are spooled like any other record when the store is down.
  if (config.refusals === undefined) return durable;
  return boundRefusals(durable, { ...config.refusals, logger: deps.logger, ...(deps.clock === undefined ? {} : { clock: deps.clock }) });
}

async function openStore(config: LedgerConfig, deps: LedgerDeps): Promise<Ledger> {
  if (config.driver === 'mongodb') {
    // The schema requires this section for the mongodb driver; checked again for a hand-built config.
    if (config.mongodb === undefined) throw new TypeError('ledger.mongodb is required when ledger.driver is mongodb');
    // Loaded only when used: the driver costs memory and start-up time a file ledger never needs.
    const { openMongoLedger } = await import('./mongodb.ts');
    return openMongoLedger({ ...config.mongodb, retentionDays: config.retentionDays, logger: deps.logger });
  }
  const own = await openFileLedger({
    dir: deps.writer === undefined ? config.path : writerDir(config.path, deps.writer),
    maxFileBytes: config.maxFileBytes,
    retentionDays: config.retentionDays,
    logger: deps.logger,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    ...(deps.onSync === undefined ? {} : { onSync: deps.onSync }),
  });
  return deps.writer === undefined ? own : new AllChainsLedger(own, config.path);
}

export type { IssuancePage, IssuanceQuery, IssuanceRecord, Ledger, Revocation, RevocationKind } from './ledger.ts';
export type { LedgerLogger } from './deps.ts';
export { MAX_QUERY_LIMIT } from './query-filter.ts';
export { verifyLedger } from './verify.ts';
export type { ChainBreak, VerifyReport, VerifyWarning } from './verify.ts';
export { exportFromLedger, exportLedger } from './export.ts';
export type { ExportRange, ExportResult } from './export.ts';
export { SpoolingLedger } from './spool.ts';
export { listChains, writerName } from './chains.ts';
export type { SpoolStatus } from './spool.ts';

/**
 * The primary of several workers holds the ledger path as a single process would (the same
 * lock), so a second instance on that path is refused at once, and keeps the one revocations
 * file at its top, as a single process does.
 */
export async function holdLedgerPath(dir: string): Promise<{ readonly revocations: Pick<Ledger, 'listRevocations' | 'putRevocation' | 'deleteRevocation'>; release(): Promise<void> }> {
  await ensureDir(dir);
  const lock = await acquireLock(dir, 'ledger', `ledger directory ${dir}`);
  try {
    const revocations = await RevocationFile.open(join(dir, REVOCATIONS_FILE));
    return {
      revocations: {
        listRevocations: async () => revocations.list(),
        putRevocation: (revocation) => revocations.put(revocation),
        deleteRevocation: (kind, value, tenant) => revocations.delete(kind, value, tenant),
      },
      async release() {
        await revocations.close();
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}
