// The MongoDB driver's judgement of a failed index creation, without a server: what is retried
// (not reachable) and what is reported once and never fails a write (refused by the server).
import { MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { judgeIndexFailure } from '../../src/record/mongo-indexes.ts';

const target = { database: 'registry_token', collection: 'issuances', indexes: ['jti_unique', 'issuedAt'] };

describe('judgeIndexFailure', () => {
  it('names the missing createIndex privilege and the collection when the user is not authorised', () => {
    const error = new MongoServerError({ message: 'not authorized on registry_token to execute command { createIndexes: "issuances" }', code: 13, codeName: 'Unauthorized' });
    const failure = judgeIndexFailure(error, target);
    expect(failure.kind).toBe('refused');
    const message = (failure as { message: string }).message;
    expect(message).toContain('missing privilege: the createIndex action');
    expect(message).toContain('registry_token.issuances');
    expect(message).toContain('jti_unique, issuedAt');
    expect(message).toContain('records are still written');
  });

  it('reports a conflicting index as refused, with the server\'s reason', () => {
    const error = new MongoServerError({ message: 'An existing index has the same name as the requested index', code: 86, codeName: 'IndexKeySpecsConflict' });
    const failure = judgeIndexFailure(error, target);
    expect(failure).toMatchObject({ kind: 'refused' });
    expect((failure as { message: string }).message).toContain('IndexKeySpecsConflict');
  });

  it('treats a store it cannot reach as something to retry', () => {
    expect(judgeIndexFailure(new MongoNetworkError('connect ECONNREFUSED 127.0.0.1:1'), target)).toEqual({ kind: 'unreachable' });
    expect(judgeIndexFailure(new MongoServerSelectionError('Server selection timed out', { type: 'Unknown', servers: new Map(), stale: false, compatible: true, heartbeatFrequencyMS: 10000, localThresholdMS: 15, setName: null, maxElectionId: null, maxSetVersion: null, commonWireVersion: 0, logicalSessionTimeoutMinutes: null } as never), target)).toEqual({ kind: 'unreachable' });
  });
});
