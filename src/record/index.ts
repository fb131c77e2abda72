// The record stage's entry point: picks the driver named by `ledger.driver`, and wraps it in
// the spool when `ledger.onUnavailable` is `spool`. Callers see only `Ledger`.
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/types.ts';
import type { LedgerLogger } from './deps.ts';
import { openFileLedger } from './file.ts';
import type { Ledger } from './ledger.ts';
import { boundRefusals } from './refusals.ts';
import { openSpoolingLedger } from './spool.ts';

export interface LedgerDeps {
  /** pino's Logger fits. */
  readonly logger: LedgerLogger;
  readonly clock?: Clock;
  /** Called after each durable file-ledger write with its record count (metrics). */
  readonly onSync?: (records: number) => void;
}

type StoreKeys = 'driver' | 'path' | 'maxFileBytes' | 'mongodb' | 'retentionDays' | 'onUnavailable' | 'spoolPath';
/** `ledger` configuration: the store's keys are needed, the rest (refusals, ...) may be left to defaults. */
export type LedgerConfig = Pick<Config['ledger'], StoreKeys> & Partial<Omit<Config['ledger'], StoreKeys>>;

export async function createLedger(config: LedgerConfig, deps: LedgerDeps): Promise<Ledger> {
  const store = await openStore(config, deps);
  let durable: Ledger = store;
  if (config.onUnavailable === 'spool') {
    try {
      durable = await openSpoolingLedger(store, { dir: config.spoolPath, logger: deps.logger });
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
  return openFileLedger({
    dir: config.path,
    maxFileBytes: config.maxFileBytes,
    retentionDays: config.retentionDays,
    logger: deps.logger,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    ...(deps.onSync === undefined ? {} : { onSync: deps.onSync }),
  });
}

export type { IssuancePage, IssuanceQuery, IssuanceRecord, Ledger, Revocation, RevocationKind } from './ledger.ts';
export type { LedgerLogger } from './deps.ts';
export { MAX_QUERY_LIMIT } from './query-filter.ts';
export { verifyLedger } from './verify.ts';
export type { ChainBreak, VerifyReport, VerifyWarning } from './verify.ts';
export { exportFromLedger, exportLedger } from './export.ts';
export type { ExportRange, ExportResult } from './export.ts';
export { SpoolingLedger } from './spool.ts';
export type { SpoolStatus } from './spool.ts';
