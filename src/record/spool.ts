// `ledger.onUnavailable: spool`: when the store cannot take a record, the record is made
// durable in a local spool instead and the request goes on; a background loop replays the
// spool into the store, in order, when it is back. While anything is spooled, new records join
// the spool too, so the store receives them in the order they were decided, and only the first
// failing group pays the store's timeout.
//
// Exactly once by jti: the MongoDB driver's unique jti index turns a repeat into a no-op; for
// a store without one, progress is persisted after every batch and, after a restart, the one
// batch whose fate is unknown is checked against the newest records in the store first.
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../domain/errors.ts';
import { ledgerUnavailable, silentLogger } from './deps.ts';
import { LedgerDecorator } from './ledger-decorator.ts';
import type { LedgerLogger } from './deps.ts';
import { GroupCommitter } from './group-commit.ts';
import type { IssuanceRecord, Ledger } from './ledger.ts';
import { MAX_QUERY_LIMIT } from './query-filter.ts';
import { pickRecord } from './record-shape.ts';
import { SpoolFiles } from './spool-files.ts';
import type { SpoolFile } from './spool-files.ts';

export interface SpoolOptions {
  /** `ledger.spoolPath`; created when missing. */
  readonly dir: string;
  readonly logger?: LedgerLogger;
  /** Records handed to the store at once during replay (one store group). */
  readonly replayBatch?: number;
  /** First wait before retrying an unavailable store; doubles up to retryMaxMs. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly maxFileBytes?: number;
}

export interface SpoolStatus {
  /** Records durable in the spool, not yet in the store. */
  readonly spooled: number;
  /** False from a failed store write until the spool has drained again. */
  readonly storeAvailable: boolean;
}

/** Replays what an earlier run left in the spool (once) before returning; then keeps replaying in the background. */
export async function openSpoolingLedger(inner: Ledger, options: SpoolOptions): Promise<SpoolingLedger> {
  const files = await SpoolFiles.open(options.dir, options.logger ?? silentLogger, options.maxFileBytes);
  const ledger = new SpoolingLedger(inner, files, options);
  await ledger.start();
  return ledger;
}

export class SpoolingLedger extends LedgerDecorator {
  readonly name: string;
  readonly #files: SpoolFiles;
  readonly #logger: LedgerLogger;
  readonly #replayBatch: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #committer: GroupCommitter<IssuanceRecord>;
  readonly #stop = new AbortController();
  /** Files from an earlier run whose next batch may already be in the store. */
  readonly #unverified = new Set<SpoolFile>();
  /** Replayed to the store but not yet covered by persisted progress (a batch that partly failed). */
  readonly #inStore = new Set<string>();
  #storeDown = false;
  #replay: Promise<void> | undefined;
  #closed = false;

  constructor(inner: Ledger, files: SpoolFiles, options: SpoolOptions) {
    super(inner);
    this.name = `${inner.name}+spool`;
    this.#files = files;
    this.#logger = options.logger ?? silentLogger;
    this.#replayBatch = Math.min(options.replayBatch ?? 256, MAX_QUERY_LIMIT);
    this.#retryMinMs = options.retryMinMs ?? 500;
    this.#retryMaxMs = options.retryMaxMs ?? 30_000;
    for (const file of files.sealed()) this.#unverified.add(file);
    this.#committer = new GroupCommitter({ maxBatch: 512, write: (batch) => this.#files.append(batch) });
  }

  status(): SpoolStatus {
    return { spooled: this.#files.pending, storeAvailable: !this.#storeDown };
  }

  override spooled(): number {
    return this.#files.pending;
  }

  /** @internal Called once by openSpoolingLedger. */
  async start(): Promise<void> {
    if (this.#files.pending === 0) return;
    this.#logger.info({ spool: this.#files.pending }, 'ledger spool: replaying records left by an earlier run');
    try {
      await this.#replayOnce();
    } catch (error) {
      this.#storeDown = true;
      this.#logger.warn({ err: error, spooled: this.#files.pending }, 'ledger spool: store unavailable at start-up; replay continues in the background');
    }
    this.#kick();
  }

  override async append(record: IssuanceRecord): Promise<void> {
    if (this.#closed) throw ledgerUnavailable('ledger is closed');
    const stored = pickRecord(record);
    if (this.#files.pending === 0 && !this.#storeDown) {
      try {
        await this.inner.append(stored);
        return;
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
        if (!this.#storeDown) this.#logger.warn({ err: error, store: this.inner.name }, 'ledger: store unavailable, spooling records locally');
        this.#storeDown = true;
      }
    }
    try {
      await this.#committer.submit(stored);
    } catch (error) {
      throw ledgerUnavailable('ledger store and local spool are both unavailable', error);
    } finally {
      this.#kick();
    }
  }

  #kick(): void {
    if (this.#replay !== undefined || this.#closed) return;
    this.#replay = this.#replayLoop().finally(() => {
      this.#replay = undefined;
    });
  }

  async #replayLoop(): Promise<void> {
    let delay = this.#retryMinMs;
    while (!this.#closed && (this.#files.pending > 0 || this.#storeDown)) {
      try {
        await this.#replayOnce();
        if (this.#files.pending === 0 && this.#storeDown) {
          this.#storeDown = false;
          this.#logger.info({ store: this.inner.name }, 'ledger spool: drained; writing to the store directly again');
        }
        delay = this.#retryMinMs;
      } catch (error) {
        this.#logger.warn({ err: error, spooled: this.#files.pending, retryInMs: delay }, 'ledger spool: replay failed; will retry');
        try {
          await sleep(delay, undefined, { signal: this.#stop.signal, ref: false });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, this.#retryMaxMs);
      }
    }
  }

  /** Seals the active spool file and replays every sealed file into the store; throws at the first failure. */
  async #replayOnce(): Promise<void> {
    await this.#files.seal();
    for (const file of this.#files.sealed()) {
      if (this.#closed) return;
      const entries = await this.#files.readRecords(file);
      if (this.#unverified.has(file)) {
        await this.#recallUncertainBatch(entries.slice(0, this.#replayBatch).map((e) => e.record));
        this.#unverified.delete(file);
      }
      for (let i = 0; i < entries.length; i += this.#replayBatch) {
        if (this.#closed) return;
        const batch = entries.slice(i, i + this.#replayBatch);
        const todo = batch.filter((e) => !this.#inStore.has(e.record.jti));
        // Concurrent appends: the store's group commit makes them one write.
        const results = await Promise.allSettled(todo.map((e) => this.inner.append(e.record)));
        results.forEach((result, k) => {
          if (result.status === 'fulfilled') this.#inStore.add(todo[k]!.record.jti);
        });
        const firstMissing = batch.findIndex((e) => !this.#inStore.has(e.record.jti));
        const done = firstMissing === -1 ? batch : batch.slice(0, firstMissing);
        const last = done.at(-1);
        if (last !== undefined) {
          await this.#files.markReplayed(file, last.line + 1);
          for (const e of done) this.#inStore.delete(e.record.jti);
        }
        const failure = results.find((r) => r.status === 'rejected');
        if (failure !== undefined) throw failure.reason;
      }
      await this.#files.remove(file);
    }
  }

  /**
   * A crash can fall between the store taking a batch and the spool saving its progress. What
   * the store took then is among the newest things it holds (nothing else is written while the
   * spool is non-empty), so a look at its newest records settles which are already there. The
   * look is wider than one batch: it is cheap, once per inherited file, and forgiving of other
   * writers (who, on MongoDB, the unique jti index covers anyway).
   */
  async #recallUncertainBatch(batch: readonly IssuanceRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const page = await this.inner.query({ limit: MAX_QUERY_LIMIT });
    const newest = new Set(page.records.map((r) => r.jti));
    for (const record of batch) if (newest.has(record.jti)) this.#inStore.add(record.jti);
  }

  /** Ready while records can be made durable somewhere: the store, or failing that the spool. */
  override async check(): Promise<void> {
    if (this.#closed) throw ledgerUnavailable('ledger is closed');
    try {
      await this.inner.check();
    } catch (storeError) {
      try {
        await this.#files.check();
      } catch (spoolError) {
        throw ledgerUnavailable('ledger store and local spool are both unavailable', new AggregateError([storeError, spoolError]));
      }
    }
  }

  /** Stops replay (the spool stays on disk for the next run), flushes spool writes, closes the store. */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    await this.#replay;
    await this.#committer.close();
    await this.#files.close();
    await this.inner.close();
  }
}
