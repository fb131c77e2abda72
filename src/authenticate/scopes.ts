import { ForbiddenError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';

/** OAuth scopes as the Authority writes them: a space-separated `scope` string or an `scp` array. */
export function tokenScopes(claims: Record<string, unknown>): Set<string> {
  const scopes = new Set<string>();
  if (typeof claims.scope === 'string') for (const s of claims.scope.split(' ')) if (s !== '') scopes.add(s);
  if (Array.isArray(claims.scp)) for (const s of claims.scp) if (typeof s === 'string') scopes.add(s);
  return scopes;
}

export function requireScopes(principal: Principal, required: readonly string[]): void {
  const missing = required.filter((scope) => !principal.scopes.has(scope));
  if (missing.length > 0) {
    throw new ForbiddenError('insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, { scheme: principal.scheme });
  }
}
