// The MongoDB driver against a real server when MONGODB_URI is set (the same contract as the
// file driver), and its failure path against an address where nothing listens, which needs no server.
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/errors.ts';
import { createLedger } from '../../src/record/index.ts';
import type { Ledger } from '../../src/record/ledger.ts';
import { openMongoLedger } from '../../src/record/mongodb.ts';
import type { MongoLedgerOptions } from '../../src/record/mongodb.ts';
import { ledgerContract } from './contract.ts';
import { record, recordingLogger } from './fixtures.ts';

const uri = process.env['MONGODB_URI'];
const UNREACHABLE = 'mongodb://127.0.0.1:1/?directConnection=true';

describe.skipIf(uri === undefined)(uri === undefined ? 'MongoDB ledger (skipped: MONGODB_URI not set)' : 'MongoDB ledger', () => {
  const server = uri ?? '';
  const withDatabase = async <T>(database: string, fn: (client: MongoClient) => Promise<T>): Promise<T> => {
    const client = new MongoClient(server);
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };
  const fresh = (): MongoLedgerOptions => ({ uri: server, database: `registry_token_test_${randomUUID().slice(0, 8)}`, collection: 'issuances' });

  ledgerContract('mongodb', async () => {
    const options = fresh();
    let ledger: Ledger = await openMongoLedger(options);
    return {
      get ledger() {
        return ledger;
      },
      async reopen() {
        await ledger.close();
        ledger = await openMongoLedger(options);
        return ledger;
      },
      async dispose() {
        await ledger.close();
        await withDatabase(options.database, (client) => client.db(options.database).dropDatabase());
      },
    };
  });

  it('counts a duplicate jti (a replayed record) as already written: exactly one copy', async () => {
    const options = fresh();
    const a = await openMongoLedger(options);
    const b = await openMongoLedger(options);
    try {
      const r = record(1);
      const others = [record(2), record(3)];
      await a.append(r);
      await Promise.all([b.append(r), ...others.map((o) => b.append(o))]);
      await a.append(r);
      const count = await withDatabase(options.database, (client) => client.db(options.database).collection('issuances').countDocuments({ jti: r.jti }));
      expect(count).toBe(1);
      for (const o of others) expect(await a.get(o.jti)).toEqual(o);
    } finally {
      await a.close();
      await b.close();
      await withDatabase(options.database, (client) => client.db(options.database).dropDatabase());
    }
  });

  it('creates its indexes, and a TTL index that follows retentionDays', async () => {
    const options = fresh();
    const names = (client: MongoClient) => client.db(options.database).collection('issuances').indexes();
    try {
      await (await openMongoLedger({ ...options, retentionDays: 30 })).close();
      let indexes = await withDatabase(options.database, names);
      expect(indexes.map((i) => i.name)).toEqual(expect.arrayContaining(['jti_unique', 'issuedAt', 'subject_issuedAt', 'license_issuedAt', 'tenant_issuedAt', 'issuedAtDate_ttl']));
      expect(indexes.find((i) => i.name === 'jti_unique')?.unique).toBe(true);
      expect(indexes.find((i) => i.name === 'issuedAtDate_ttl')?.expireAfterSeconds).toBe(30 * 86_400);

      await (await openMongoLedger({ ...options, retentionDays: 7 })).close();
      indexes = await withDatabase(options.database, names);
      expect(indexes.find((i) => i.name === 'issuedAtDate_ttl')?.expireAfterSeconds).toBe(7 * 86_400);

      await (await openMongoLedger(options)).close();
      indexes = await withDatabase(options.database, names);
      expect(indexes.find((i) => i.name === 'issuedAtDate_ttl')).toBeUndefined();

      const revocationIndexes = await withDatabase(options.database, (client) => client.db(options.database).collection('issuances_revocations').indexes());
      // (kind, tenant, value): two tenants may each revoke a subject of the same name.
      expect(revocationIndexes.find((i) => i.name === 'kind_tenant_value_unique')).toMatchObject({ unique: true, key: { kind: 1, tenant: 1, value: 1 } });
      expect(revocationIndexes.find((i) => i.name === 'kind_value_unique')).toBeUndefined();
    } finally {
      await withDatabase(options.database, (client) => client.db(options.database).dropDatabase());
    }
  });
});

describe('MongoDB driver with no server listening (127.0.0.1:1)', () => {
  it('refuses appends, queries and readiness with UnavailableError, quickly', async () => {
    const logger = recordingLogger();
    const ledger = await openMongoLedger({ uri: UNREACHABLE, database: 'x', collection: 'issuances', serverSelectionTimeoutMS: 300, logger });
    try {
      expect(logger.entries.some((e) => e.level === 'warn')).toBe(true);
      const started = Date.now();
      const error = await ledger.append(record(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).reason).toBe('ledger_unavailable');
      expect(Date.now() - started).toBeLessThan(2000);
      // A store down at start-up must be picked up when it returns: each attempt connects
      // afresh instead of reporting the driver's closed first topology for ever.
      const again = (await ledger.append(record(2)).catch((e: unknown) => e)) as UnavailableError;
      expect(again).toBeInstanceOf(UnavailableError);
      expect((again.cause as Error).name).toBe('MongoServerSelectionError');
      await expect(ledger.query({ limit: 10 })).rejects.toBeInstanceOf(UnavailableError);
      await expect(ledger.check()).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await ledger.close();
    }
  });

  it('answers in about 2 s with the default timeout, through createLedger with onUnavailable: reject', async () => {
    const ledger = await createLedger(
      { driver: 'mongodb', path: 'unused', maxFileBytes: 4096, mongodb: { uri: UNREACHABLE, database: 'x', collection: 'issuances' }, onUnavailable: 'reject', spoolPath: 'unused', revocationPollSeconds: 2 },
      { logger: recordingLogger() },
    );
    try {
      expect(ledger.name).toBe('mongodb');
      const started = Date.now();
      await expect(ledger.append(record(1))).rejects.toBeInstanceOf(UnavailableError);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThan(1000);
      expect(elapsed).toBeLessThan(4000);
    } finally {
      await ledger.close();
    }
  });
});
