// Runtime revocations checked on every request without a store round trip: the list is re-read
// every `ledger.revocationPollSeconds`, which is how a revocation made on one replica reaches the
// others, and at once when the store pushes a change (RevocationStore.watch, Redis pub/sub).
// A failed read keeps the last list (a store outage must not un-revoke anyone); how long that list
// may be trusted is the RevocationSet's to judge (revocationMaxStalenessSeconds).
import { revocationKey } from '../record/ledger.ts';
import type { Revocation, RevocationKind, RevocationStore, StoreLogger } from './store.ts';

export interface RevocationWatch {
  /** The revocation in force for (kind, value, tenant), if any. */
  find(kind: RevocationKind, value: string, tenant?: string): Revocation | undefined;
  list(): Revocation[];
  /** Re-reads now; call after a put or delete so this replica sees it at once. */
  refresh(): Promise<void>;
  /** False until one read succeeded (the RevocationSet refuses tokens meanwhile). */
  loaded(): boolean;
  close(): void;
}

/**
 * Reads the list, then polls. A store that cannot be read at start does not stop the process
 * (it may come back in seconds); `onChange` is not called meanwhile, so the RevocationSet fed
 * by it refuses every token and readiness fails until the revocations are known.
 */
export async function watchRevocations(
  source: Pick<RevocationStore, 'list' | 'watch'>,
  options: {
    readonly pollSeconds: number;
    readonly logger: StoreLogger;
    /** Told the whole list after every successful read. */
    readonly onChange?: (revocations: Revocation[]) => void;
  },
): Promise<RevocationWatch> {
  let byKey = new Map<string, Revocation>();
  let loaded = false;
  let failing = false;
  // Overlapping reads (a slow poll, then a refresh after a put) must not let the older answer win.
  let started = 0;
  let applied = 0;
  const refresh = async (): Promise<void> => {
    const seq = ++started;
    const list = await source.list();
    if (seq > applied) {
      applied = seq;
      byKey = index(list);
      loaded = true;
      options.onChange?.(list);
    }
  };
  const background = () => {
    refresh().then(
      () => {
        if (failing) options.logger.info({}, 'revocations readable again');
        failing = false;
      },
      (error: unknown) => {
        if (!failing) options.logger.warn({ err: error }, 'cannot re-read revocations; keeping the last list');
        failing = true;
      },
    );
  };
  try {
    await refresh();
  } catch (error) {
    failing = true;
    options.logger.warn({ err: error }, 'revocations cannot be read yet; tokens are refused until they are');
  }
  const timer = setInterval(background, options.pollSeconds * 1000);
  timer.unref();
  const unwatch = source.watch?.(background);
  return {
    find: (kind, value, tenant) => byKey.get(revocationKey(kind, value, tenant)),
    list: () => [...byKey.values()],
    refresh,
    loaded: () => loaded,
    close: () => {
      clearInterval(timer);
      unwatch?.();
    },
  };
}

function index(revocations: readonly Revocation[]): Map<string, Revocation> {
  return new Map(revocations.map((r) => [revocationKey(r.kind, r.value, r.tenant), r]));
}
