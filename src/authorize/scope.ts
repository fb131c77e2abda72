// The Docker token scope grammar (distribution docs, "Token Scope Documentation"):
//   scope        := type [ '(' class ')' ] ':' name ':' action [ ',' action ]*
// A name may carry a `host:port/` prefix, so a scope splits at its FIRST and its LAST ':'.
import { InvalidRequestError } from '../domain/errors.ts';
import type { ResourceScope } from '../domain/types.ts';

/** More would only be a way to make one request cost a lot of matching. */
export const MAX_SCOPES = 64;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const ACTION = /^(?:[a-z]+|\*)$/;
// distribution/reference: optional domain (with port) then path components.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REPOSITORY_NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const OTHER_NAME = /^[A-Za-z0-9._\-/:*[\]]+$/;
const MAX_NAME_LENGTH = 255;
// Real types and actions are a few letters; bounding them bounds what a request makes the
// service hold, log and record (a decision lists every requested action).
const MAX_TYPE_LENGTH = 64;
const MAX_ACTION_LENGTH = 32;
const MAX_ACTIONS = 16;

/** The caller's text as a refusal quotes it: the message is rendered thrice and recorded. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

function malformed(scope: string, why: string): InvalidRequestError {
  return new InvalidRequestError('invalid_scope', `malformed scope "${clip(scope, 300)}": ${why}`);
}

export function parseScope(scope: string): ResourceScope {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) throw malformed(scope, 'expected type:name:actions');
  const typePart = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actionPart = scope.slice(last + 1);
  if (typePart.length > MAX_TYPE_LENGTH) throw malformed(scope, `the resource type is longer than ${MAX_TYPE_LENGTH} characters`);
  const type = TYPE.exec(typePart);
  if (type === null) throw malformed(scope, `resource type "${clip(typePart, 40)}" is not [a-z0-9]+ with an optional (class)`);
  if (name === '' || name.length > MAX_NAME_LENGTH) throw malformed(scope, 'the resource name is empty or longer than 255 characters');
  const namePattern = type[1] === 'repository' ? REPOSITORY_NAME : OTHER_NAME;
  if (!namePattern.test(name)) throw malformed(scope, `"${name}" is not a valid ${type[1]} name`);
  const actions = new Set<string>();
  for (const action of actionPart.split(',')) {
    if (action.length > MAX_ACTION_LENGTH) throw malformed(scope, `action "${action.slice(0, 40)}..." is longer than ${MAX_ACTION_LENGTH} characters`);
    if (!ACTION.test(action)) throw malformed(scope, `action "${clip(action, 40)}" is not [a-z]+ or *`);
    actions.add(action);
    if (actions.size > MAX_ACTIONS) throw malformed(scope, `more than ${MAX_ACTIONS} different actions`);
  }
  return { type: type[1]!, class: type[2], name, actions: [...actions] };
}

/**
 * All `scope` query values of one request. Each value may itself hold several
 * space-separated scopes (the WWW-Authenticate form); repeated parameters are the norm.
 */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const scopes = values.flatMap((value) => value.split(' ')).filter((s) => s !== '');
  if (scopes.length > MAX_SCOPES) {
    throw new InvalidRequestError('invalid_scope', `too many scopes: ${scopes.length} (at most ${MAX_SCOPES})`);
  }
  return scopes.map(parseScope);
}

export function formatScope(scope: ResourceScope): string {
  const type = scope.class === undefined ? scope.type : `${scope.type}(${scope.class})`;
  return `${type}:${scope.name}:${scope.actions.join(',')}`;
}
