// How the MongoDB driver judges a failed index creation at start-up. A store that is not
// reachable yet is retried when it is next used; anything the server itself refuses (a user
// without the createIndex privilege, an existing index with other options) will not change by
// retrying, so it is reported once, clearly, and records go on being written without it.
import { MongoServerError } from 'mongodb';

/** Server error codes that mean "not allowed", not "not reachable". */
const UNAUTHORIZED = new Set([13, 18]);

export type IndexFailure =
  | { readonly kind: 'unreachable' }
  | { readonly kind: 'refused'; readonly message: string };

export function judgeIndexFailure(error: unknown, target: { database: string; collection: string; indexes: readonly string[] }): IndexFailure {
  if (!(error instanceof MongoServerError)) return { kind: 'unreachable' };
  const where = `${target.database}.${target.collection}`;
  const consequence =
    'records are still written, but without the unique jti index a spool replay after a crash may store a record twice, ' +
    'without the TTL index ledger.retentionDays removes nothing, and audit queries scan the whole collection';
  if (UNAUTHORIZED.has(error.code as number) || error.codeName === 'Unauthorized') {
    return {
      kind: 'refused',
      message: `ledger: the MongoDB user may not create indexes on ${where} (missing privilege: the createIndex action on that collection, which the built-in readWrite role includes); ` +
        `${consequence}. Grant createIndex on ${where} and restart, or have an administrator create the indexes ${target.indexes.join(', ')}`,
    };
  }
  return {
    kind: 'refused',
    message: `ledger: MongoDB refused to create the ledger indexes on ${where} (${error.codeName ?? error.code}: ${error.message}); ` +
      `${consequence}. Fix or drop the conflicting index and restart; expected indexes: ${target.indexes.join(', ')}`,
  };
}
