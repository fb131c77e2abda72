// `ledger.driver: mongodb`: one insertMany per group, acknowledged by a majority, so a record
// survives the loss of the primary. Replicas share the store, and with it the revocations.
import { MongoBulkWriteError, MongoClient, MongoServerError } from 'mongodb';
import type { Collection, Db, Filter, IndexDescription } from 'mongodb';
import { ledgerUnavailable, silentLogger } from './deps.ts';
import type { LedgerLogger } from './deps.ts';
import { GroupCommitter } from './group-commit.ts';
import type { IssuancePage, IssuanceQuery, IssuanceRecord, Ledger, Revocation, RevocationKind } from './ledger.ts';
import { judgeIndexFailure } from './mongo-indexes.ts';
import { checkLimit, decodeCursor, encodeCursor } from './query-filter.ts';
import { fromStored, submitRecord } from './record-shape.ts';

export interface MongoLedgerOptions {
  readonly uri: string;
  readonly database: string;
  /** Issuance records; revocations go to `<collection>_revocations`. */
  readonly collection: string;
  /** `ledger.retentionDays`: a TTL index removes records this long after issuedAt. */
  readonly retentionDays?: number | undefined;
  readonly logger?: LedgerLogger;
  /**
   * How long an operation waits for a usable server. The driver's default (30 s) would hold
   * every request that long when the store is down; 2 s answers quickly and lets the spool take over.
   */
  readonly serverSelectionTimeoutMS?: number;
  /** Bound on one write's majority acknowledgement, for the same reason. */
  readonly writeTimeoutMS?: number;
  readonly maxBatch?: number;
}

/** What is stored: the record plus a Date copy of issuedAt for the TTL index, range queries and sorting. */
type IssuanceDoc = IssuanceRecord & { issuedAtDate: Date };

interface Position {
  /** issuedAt in ms. */
  readonly t: number;
  readonly j: string;
}

const isPosition = (v: unknown): v is Position =>
  typeof v === 'object' && v !== null && Number.isFinite((v as Position).t) && typeof (v as Position).j === 'string';

const DUPLICATE_KEY = 11000;
const TTL_INDEX = 'issuedAtDate_ttl';
const NEWEST_FIRST = { issuedAtDate: -1, jti: -1 } as const;

// Equality filters are followed by the sort keys so "this subject's records, newest first"
// is one index walk. The jti index makes a replayed record a duplicate instead of a second copy.
const ISSUANCE_INDEXES: IndexDescription[] = [
  { key: { jti: 1 }, name: 'jti_unique', unique: true },
  { key: NEWEST_FIRST, name: 'issuedAt' },
  { key: { subject: 1, ...NEWEST_FIRST }, name: 'subject_issuedAt' },
  { key: { license: 1, ...NEWEST_FIRST }, name: 'license_issuedAt' },
  { key: { tenant: 1, ...NEWEST_FIRST }, name: 'tenant_issuedAt' },
  { key: { 'granted.name': 1, ...NEWEST_FIRST }, name: 'repository_issuedAt' },
];

/**
 * Creates the indexes once, here, and does not wait beyond that for the store: an unreachable
 * MongoDB at start-up is reported by `check()` (and spooled for, when configured); its indexes
 * are then created on the first use that reaches it.
 */
export async function openMongoLedger(options: MongoLedgerOptions): Promise<MongoLedger> {
  const client = new MongoClient(options.uri, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 2000,
    connectTimeoutMS: options.serverSelectionTimeoutMS ?? 2000,
    ignoreUndefined: true,
    retryWrites: true,
    appName: 'registry-token',
  });
  const ledger = new MongoLedger(client, options);
  await ledger.ensureIndexes().catch((error: unknown) => {
    (options.logger ?? silentLogger).warn({ err: error }, 'ledger: MongoDB not reachable at start-up; its indexes are created on first use');
  });
  return ledger;
}

export class MongoLedger implements Ledger {
  readonly name = 'mongodb';
  readonly #client: MongoClient;
  readonly #db: Db;
  readonly #issuances: Collection<IssuanceDoc>;
  readonly #revocations: Collection<Revocation>;
  readonly #retentionDays: number | undefined;
  readonly #logger: LedgerLogger;
  readonly #committer: GroupCommitter<IssuanceRecord>;
  #connection: Promise<unknown> | undefined;
  #indexes: Promise<void> | undefined;
  /** Set once index creation succeeded or was refused for good (logged): never attempted again. */
  #indexesSettled = false;
  readonly #database: string;
  #closed = false;

  constructor(client: MongoClient, options: MongoLedgerOptions) {
    this.#client = client;
    this.#db = client.db(options.database);
    this.#database = options.database;
    const writeConcern = { w: 'majority' as const, wtimeoutMS: options.writeTimeoutMS ?? 5000 };
    this.#issuances = this.#db.collection<IssuanceDoc>(options.collection, { writeConcern });
    this.#revocations = this.#db.collection<Revocation>(`${options.collection}_revocations`, { writeConcern });
    this.#retentionDays = options.retentionDays;
    this.#logger = options.logger ?? silentLogger;
    this.#committer = new GroupCommitter({ maxBatch: options.maxBatch ?? 512, write: (batch) => this.#write(batch) });
  }

  /**
   * The driver connects on first use, but when that first connection fails it keeps the closed
   * topology and answers every later operation with "Topology is closed", for good. An explicit
   * connect() replaces a closed topology, so a store that was down at start-up is picked up
   * once it is back. Once connected, the driver itself rides out later outages.
   */
  #connect(): Promise<unknown> {
    this.#connection ??= this.#client.connect().catch((error: unknown) => {
      this.#connection = undefined;
      throw error;
    });
    return this.#connection;
  }

  /**
   * Once per ledger. Rejects only while MongoDB cannot be reached (the next call tries again); a
   * refusal by the server (e.g. no createIndex privilege) is logged once, naming what is missing,
   * and resolves: it must not fail every write.
   */
  ensureIndexes(): Promise<void> {
    if (this.#indexesSettled) return Promise.resolve();
    this.#indexes ??= this.#connect()
      .then(() => this.#createIndexes())
      .then(
        () => {
          this.#indexesSettled = true;
        },
        (error: unknown) => {
          const failure = judgeIndexFailure(error, {
            database: this.#database,
            collection: this.#issuances.collectionName,
            indexes: [...ISSUANCE_INDEXES.map((i) => i.name!), 'kind_tenant_value_unique', ...(this.#retentionDays === undefined ? [] : [TTL_INDEX])],
          });
          this.#indexes = undefined;
          if (failure.kind === 'unreachable') throw error;
          this.#indexesSettled = true;
          this.#logger.error({ err: error }, failure.message);
        },
      );
    return this.#indexes;
  }

  async #createIndexes(): Promise<void> {
    await this.#issuances.createIndexes(ISSUANCE_INDEXES);
    // (kind, tenant, value): two tenants may each revoke a subject of the same name. The older
    // (kind, value) index would refuse the second, so it goes.
    await this.#revocations.dropIndex('kind_value_unique').catch(() => {});
    await this.#revocations.createIndex({ kind: 1, tenant: 1, value: 1 }, { name: 'kind_tenant_value_unique', unique: true });
    await this.#applyRetention();
  }

  async #applyRetention(): Promise<void> {
    const existing = (await this.#issuances.indexes()).find((index) => index.name === TTL_INDEX);
    if (this.#retentionDays === undefined) {
      // Retention was switched off: keep records from now on rather than go on expiring them.
      if (existing !== undefined) {
        await this.#issuances.dropIndex(TTL_INDEX);
        this.#logger.info({ index: TTL_INDEX }, 'ledger: retention off, TTL index dropped');
      }
      return;
    }
    const expireAfterSeconds = this.#retentionDays * 86_400;
    if (existing === undefined) {
      await this.#issuances.createIndex({ issuedAtDate: 1 }, { name: TTL_INDEX, expireAfterSeconds });
    } else if (existing.expireAfterSeconds !== expireAfterSeconds) {
      // createIndex cannot change an index's options; collMod can, in place.
      await this.#db.command({ collMod: this.#issuances.collectionName, index: { name: TTL_INDEX, expireAfterSeconds } });
      this.#logger.info({ index: TTL_INDEX, retentionDays: this.#retentionDays }, 'ledger: retention changed');
    }
  }

  append(record: IssuanceRecord): Promise<void> {
    return submitRecord(this.#committer, this.#closed, record);
  }

  async #write(batch: readonly IssuanceRecord[]): Promise<void> {
    try {
      // Resolved at once after start-up; waits only when the store was unreachable then.
      await this.ensureIndexes();
      const docs = batch.map((record) => ({ ...record, issuedAtDate: new Date(record.issuedAt) }));
      await this.#issuances.insertMany(docs, { ordered: false });
    } catch (error) {
      if (onlyDuplicates(error)) return;
      throw ledgerUnavailable('MongoDB did not acknowledge the ledger write', error);
    }
  }

  async query(query: IssuanceQuery): Promise<IssuancePage> {
    const limit = checkLimit(query.limit);
    // Built as a plain object: the record type's fields are readonly.
    const filter: Record<string, unknown> = {};
    if (query.subject !== undefined) filter['subject'] = query.subject;
    if (query.license !== undefined) filter['license'] = query.license;
    if (query.tenant !== undefined) filter['tenant'] = query.tenant;
    if (query.service !== undefined) filter['service'] = query.service;
    if (query.outcome !== undefined) filter['outcome'] = query.outcome;
    // Token records carry no operation (older ones neither).
    if (query.operation !== undefined) filter['operation'] = query.operation === 'token' ? { $exists: false } : query.operation;
    if (query.repository !== undefined) filter['granted.name'] = query.repository;
    if (query.since !== undefined || query.until !== undefined) {
      filter['issuedAtDate'] = {
        ...(query.since === undefined ? {} : { $gte: query.since }),
        ...(query.until === undefined ? {} : { $lt: query.until }),
      };
    }
    if (query.cursor !== undefined) {
      const from = decodeCursor(query.cursor, isPosition);
      const at = new Date(from.t);
      filter['$or'] = [{ issuedAtDate: { $lt: at } }, { issuedAtDate: at, jti: { $lt: from.j } }];
    }
    const docs = await this.#read(() =>
      this.#issuances.find(filter as Filter<IssuanceDoc>, { projection: { _id: 0 } }).sort(NEWEST_FIRST).limit(limit + 1).toArray(),
    );
    const page = docs.slice(0, limit);
    const last = page.at(-1);
    return {
      records: page.map((doc) => fromStored(doc)),
      nextCursor: docs.length > limit && last !== undefined ? encodeCursor({ t: last.issuedAtDate.getTime(), j: last.jti }) : undefined,
    };
  }

  async get(jti: string): Promise<IssuanceRecord | undefined> {
    const doc = await this.#read(() => this.#issuances.findOne({ jti }, { projection: { _id: 0 } }));
    return doc === null ? undefined : fromStored(doc);
  }

  async listRevocations(): Promise<Revocation[]> {
    const docs = await this.#read(() => this.#revocations.find({}, { projection: { _id: 0 } }).sort({ kind: 1, value: 1 }).toArray());
    return docs.map(({ kind, value, reason, revokedAt, revokedBy }) => (revokedBy === undefined ? { kind, value, reason, revokedAt } : { kind, value, reason, revokedAt, revokedBy }));
  }

  async putRevocation(revocation: Revocation): Promise<void> {
    const { kind, value, tenant, reason, revokedAt, revokedBy } = revocation;
    const doc: Revocation = { kind, value, ...(tenant === undefined ? {} : { tenant }), reason, revokedAt, ...(revokedBy === undefined ? {} : { revokedBy }) };
    await this.#read(() => this.#revocations.replaceOne(revocationFilter(kind, value, tenant), doc, { upsert: true }));
  }

  async deleteRevocation(kind: RevocationKind, value: string, tenant?: string): Promise<boolean> {
    const result = await this.#read(() => this.#revocations.deleteOne(revocationFilter(kind, value, tenant)));
    return result.deletedCount > 0;
  }

  async check(): Promise<void> {
    if (this.#closed) throw ledgerUnavailable('ledger is closed');
    try {
      await this.ensureIndexes();
      await this.#db.command({ ping: 1 });
    } catch (error) {
      throw ledgerUnavailable('MongoDB is not reachable', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#committer.close();
    await this.#client.close();
  }

  async #read<T>(operation: () => Promise<T>): Promise<T> {
    try {
      await this.#connect();
      return await operation();
    } catch (error) {
      throw ledgerUnavailable('MongoDB operation failed', error);
    }
  }
}

/**
 * True when every document of the group is in the collection: the only failures are duplicate
 * jtis (records already written by an earlier attempt, e.g. a spool replay) and the rest were
 * acknowledged by a majority. The server waits for the write concern even after a duplicate
 * error (it advances the client's last op to what it saw), so an absent write concern error
 * means the earlier copy is majority-committed too.
 */
function onlyDuplicates(error: unknown): boolean {
  if (error instanceof MongoBulkWriteError) {
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    if (writeErrors.length === 0 || error.result.getWriteConcernError() !== undefined) return false;
    return writeErrors.every((e: { code: number }) => e.code === DUPLICATE_KEY);
  }
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY && error.errorResponse['writeConcernError'] === undefined;
}

/** (kind, tenant, value); without a tenant: the platform-wide one, stored without the field. */
function revocationFilter(kind: RevocationKind, value: string, tenant: string | undefined) {
  return tenant === undefined ? { kind, value, tenant: { $exists: false } } : { kind, value, tenant };
}
