// A registry credential's narrowing: Docker scopes whose names are plan patterns
// (`repository:team/**:pull`, `repository:tenants/{tenant}/*:pull,push`, `registry:catalog:*`),
// compiled by the plan compiler and intersected with the plan on every use: a credential never
// grants more than its plan (as configured now) and its narrowing both allow.
import { InvalidRequestError } from '../domain/errors.ts';
import { compilePattern } from './pattern.ts';
import { compileRules, type CompiledRule, type PlanRule } from './plans.ts';

export const MAX_NARROWING_SCOPES = 32;
const ACTIONS = new Set(['pull', 'push', 'delete', '*']);
const NAME = /^[A-Za-z0-9._\-/:*{}[\]]{1,255}$/;

function malformed(scope: string, why: string): InvalidRequestError {
  return new InvalidRequestError('invalid_scope', `malformed narrowing scope "${scope.length > 300 ? `${scope.slice(0, 300)}...` : scope}": ${why}`);
}

function parseOne(scope: string): { text: string; rule: PlanRule } {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) throw malformed(scope, 'expected type:pattern:actions');
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = [...new Set(scope.slice(last + 1).split(','))];
  for (const action of actions) if (!ACTIONS.has(action)) throw malformed(scope, `action "${action.slice(0, 40)}" is not one of pull, push, delete, *`);
  if (type === 'registry') {
    if (name !== 'catalog') throw malformed(scope, 'the only registry resource is "catalog"');
    return { text: `registry:catalog:${actions.join(',')}`, rule: { registry: 'catalog', actions } };
  }
  if (type !== 'repository') throw malformed(scope, 'the type must be repository or registry');
  if (!NAME.test(name)) throw malformed(scope, 'the repository pattern is empty, too long, or has characters no repository name holds');
  try {
    compilePattern(name);
  } catch (error) {
    throw malformed(scope, (error as Error).message);
  }
  return { text: `repository:${name}:${actions.join(',')}`, rule: { repository: name, actions } };
}

/**
 * Requested narrowing values (each may hold several space-separated scopes) to its normalised
 * form: one space-joined string, '' for no narrowing. Throws InvalidRequestError `invalid_scope`.
 */
export function normaliseNarrowing(values: readonly string[]): string {
  const scopes = [...new Set(values.flatMap((value) => value.split(' ')).filter((s) => s !== ''))];
  if (scopes.length > MAX_NARROWING_SCOPES) {
    throw new InvalidRequestError('invalid_scope', `too many narrowing scopes: ${scopes.length} (at most ${MAX_NARROWING_SCOPES})`);
  }
  return [...new Set(scopes.map((scope) => parseOne(scope).text))].join(' ');
}

/** Compiled narrowings by their text: a credential is used many times, compiled once. */
const compiled = new Map<string, readonly CompiledRule[]>();
const MAX_COMPILED = 10_000;

/** The rules of a narrowing carried by a verified credential. */
export function compileNarrowing(narrowing: string): readonly CompiledRule[] {
  let rules = compiled.get(narrowing);
  if (rules === undefined) {
    const parsed = narrowing.split(' ').filter((s) => s !== '').map((scope) => parseOne(scope).rule);
    rules = compileRules('credential', parsed);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(narrowing, rules);
  }
  return rules;
}
