// Bounds what refusals cost the ledger. Anyone can send a refusal, so without a bound an
// anonymous flood of requests carrying 64 long scopes fills the disk at ~33 KB a request.
// - Each refusal record is cut to `maxRecordBytes` (refusal-size.ts).
// - With `anonymous: summary`, refusals without an authenticated subject are only counted, and
//   one `refusals-summary` record per interval stores the counts (by reason, by address). Close
//   writes the last one, so nothing counted is lost on a graceful shutdown.
// Issued records, and refusals of authenticated callers, are still stored one by one.
import { LedgerDecorator } from './ledger-decorator.ts';
import { newRecordId } from '../domain/random-ids.ts';
import type { Clock } from '../domain/types.ts';
import { systemClock } from '../domain/types.ts';
import { silentLogger } from './deps.ts';
import type { LedgerLogger } from './deps.ts';
import type { IssuanceRecord, Ledger, RefusalSummary } from './ledger.ts';
import { boundRecord } from './refusal-size.ts';

/** Distinct remote addresses listed in one summary; the rest are counted together. */
export const SUMMARY_MAX_ADDRESSES = 50;

export interface RefusalOptions {
  /** `ledger.refusals.maxRecordBytes`: one stored refusal, as the file driver writes it, at most. */
  readonly maxRecordBytes: number;
  readonly anonymous: 'summary' | 'full';
  readonly summaryIntervalSeconds: number;
  readonly logger?: LedgerLogger;
  readonly clock?: Clock;
}

interface Window {
  from: number;
  until: number;
  total: number;
  readonly byReason: Map<string, number>;
  /** At most SUMMARY_MAX_ADDRESSES keys: memory stays bounded whatever the flood. */
  readonly byAddress: Map<string, number>;
  otherAddresses: number;
}

export function boundRefusals(inner: Ledger, options: RefusalOptions): RefusalBoundLedger {
  return new RefusalBoundLedger(inner, options);
}

export class RefusalBoundLedger extends LedgerDecorator {
  readonly name: string;
  readonly #options: RefusalOptions;
  readonly #logger: LedgerLogger;
  readonly #clock: Clock;
  readonly #timer: NodeJS.Timeout | undefined;
  #window: Window | undefined;
  #closed = false;

  constructor(inner: Ledger, options: RefusalOptions) {
    super(inner);
    this.name = inner.name;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    if (options.anonymous === 'summary') {
      this.#timer = setInterval(() => void this.flush(), options.summaryIntervalSeconds * 1000);
      this.#timer.unref();
    }
  }

  override append(record: IssuanceRecord): Promise<void> {
    if (record.outcome !== 'rejected') return this.inner.append(record);
    if (record.subject === undefined && this.#options.anonymous === 'summary' && !this.#closed) {
      this.#count(record);
      return Promise.resolve();
    }
    let bounded: IssuanceRecord;
    try {
      bounded = boundRecord(record, this.#options.maxRecordBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.inner.append(bounded);
  }

  #count(record: IssuanceRecord): void {
    const at = Date.parse(record.issuedAt);
    const window = (this.#window ??= { from: at, until: at, total: 0, byReason: new Map(), byAddress: new Map(), otherAddresses: 0 });
    window.from = Math.min(window.from, at);
    window.until = Math.max(window.until, at);
    window.total++;
    const reason = record.reason ?? 'server_error';
    window.byReason.set(reason, (window.byReason.get(reason) ?? 0) + 1);
    const address = record.remoteAddress;
    if (address !== undefined && (window.byAddress.has(address) || window.byAddress.size < SUMMARY_MAX_ADDRESSES)) {
      window.byAddress.set(address, (window.byAddress.get(address) ?? 0) + 1);
    } else window.otherAddresses++;
  }

  /** Writes the counts gathered so far as one summary record (nothing when there are none). */
  async flush(): Promise<void> {
    const window = this.#window;
    if (window === undefined) return;
    this.#window = undefined;
    const summary: RefusalSummary = {
      from: new Date(window.from).toISOString(),
      until: new Date(window.until).toISOString(),
      total: window.total,
      byReason: sorted(window.byReason).map(([reason, count]) => ({ reason, count })),
      byAddress: sorted(window.byAddress).map(([address, count]) => ({ address, count })),
      otherAddresses: window.otherAddresses,
    };
    const record: IssuanceRecord = {
      jti: newRecordId(),
      outcome: 'refusals-summary',
      issuedAt: this.#clock().toISOString(),
      requestedScopes: [],
      granted: [],
      summary,
    };
    try {
      await this.inner.append(record);
    } catch (error) {
      // Counted refusals are not dropped: they join the next summary.
      this.#merge(window);
      this.#logger.error({ err: error, refusals: window.total }, 'ledger: cannot write the refusals summary; its counts carry over to the next one');
    }
  }

  #merge(old: Window): void {
    const current = this.#window;
    if (current === undefined) {
      this.#window = old;
      return;
    }
    current.from = Math.min(current.from, old.from);
    current.until = Math.max(current.until, old.until);
    current.total += old.total;
    for (const [reason, count] of old.byReason) current.byReason.set(reason, (current.byReason.get(reason) ?? 0) + count);
    for (const [address, count] of old.byAddress) {
      if (current.byAddress.has(address) || current.byAddress.size < SUMMARY_MAX_ADDRESSES) {
        current.byAddress.set(address, (current.byAddress.get(address) ?? 0) + count);
      } else current.otherAddresses += count;
    }
    current.otherAddresses += old.otherAddresses;
  }

  /** Writes the last summary, then closes the store. */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.flush();
    await this.inner.close();
  }
}

/**
 * Most counted first, ties in code-unit order. Not localeCompare: its first call loads ICU's
 * collation data, a stall of several milliseconds in the middle of the flood being summarised.
 */
function sorted(counts: ReadonlyMap<string, number>): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
