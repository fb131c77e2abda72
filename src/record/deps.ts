// What the record stage needs from its surroundings: a logger (pino's Logger fits) and errors
// that the HTTP layer already knows how to render.
import { UnavailableError } from '../domain/errors.ts';

/** The slice of pino's `Logger` the ledger uses; tests pass a recorder. */
export interface LedgerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: LedgerLogger = { info() {}, warn() {}, error() {} };

/** Every store failure reaches the pipeline as this one type: the token must not leave. */
export function ledgerUnavailable(message: string, cause?: unknown): UnavailableError {
  const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : cause === undefined ? undefined : String(cause);
  return new UnavailableError('ledger_unavailable', message, detail === undefined ? { cause } : { detail, cause });
}
