// A worker's ledger: it appends to its own chain (a FileLedger in `worker-<n>/`), and answers the
// audit API from every chain under the ledger path, so whichever worker a query lands on sees
// the whole ledger, newest first, with one cursor that resumes every chain where it stopped.
import { allChainsCursor, chainEnd, chainNewestFirst, listChains, type ChainPosition, type Positioned } from './chains.ts';
import type { IssuancePage, IssuanceQuery, IssuanceRecord, Ledger } from './ledger.ts';
import { LedgerDecorator } from './ledger-decorator.ts';
import { checkLimit, decodeCursor, encodeCursor, matchesQuery } from './query-filter.ts';
import { issuedAtMs } from './record-shape.ts';

export class AllChainsLedger extends LedgerDecorator {
  readonly #root: string;

  constructor(own: Ledger, root: string) {
    super(own);
    this.#root = root;
  }

  get name(): string {
    return this.inner.name;
  }

  append(record: IssuanceRecord): Promise<void> {
    return this.inner.append(record);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  override async query(query: IssuanceQuery): Promise<IssuancePage> {
    const limit = checkLimit(query.limit);
    const from = query.cursor === undefined ? undefined : decodeCursor(query.cursor, allChainsCursor);
    const chains = await listChains(this.#root);
    // Each chain's scan starts where the cursor left it, or at its end as of now (so the cursor
    // of a chain the page never reached still points before anything written after this page).
    const scans = await Promise.all(chains.map(async (chain) => {
      const start = from?.[chain.name] ?? (from === undefined ? await chainEnd(chain.dir) : { s: 1, o: 0 });
      const lines = matching(chainNewestFirst(chain.dir, start), query);
      return { name: chain.name, at: start, lines, head: await lines.next() };
    }));
    const records: IssuanceRecord[] = [];
    for (;;) {
      let pick: (typeof scans)[number] | undefined;
      for (const scan of scans) {
        if (scan.head.done === true) continue;
        if (pick === undefined || issuedAtMs(scan.head.value.record) > issuedAtMs((pick.head.value as Positioned).record)) pick = scan;
      }
      if (pick === undefined || pick.head.done === true) return { records, nextCursor: undefined };
      if (records.length === limit) {
        return { records, nextCursor: encodeCursor(Object.fromEntries(scans.map((scan) => [scan.name, scan.at]))) };
      }
      records.push(pick.head.value.record);
      pick.at = pick.head.value.position;
      pick.head = await pick.lines.next();
    }
  }

  override async get(jti: string): Promise<IssuanceRecord | undefined> {
    // Every stored line starts with its jti (record-shape.ts puts it first).
    const prefix = Buffer.from(`{"jti":${JSON.stringify(jti)},`, 'utf8');
    for (const chain of await listChains(this.#root)) {
      for await (const { record } of chainNewestFirst(chain.dir, undefined, prefix)) return record;
    }
    return undefined;
  }
}

async function* matching(lines: AsyncGenerator<Positioned>, query: IssuanceQuery): AsyncGenerator<Positioned> {
  for await (const line of lines) if (matchesQuery(line.record, query)) yield line;
}

export type { ChainPosition };
