// An independent model of the plan rules (docs/configuration.md, "Repository patterns"), for
// the property tests. Deliberately the slow, obvious way: split into segments, match a segment
// character by character, try every way `**` can consume segments. No regexp is compiled from
// a pattern here, so a bug in src/authorize/pattern.ts's regexp builder cannot hide in both.

export interface ModelVars {
  readonly subject?: string | undefined;
  readonly tenant?: string | undefined;
  readonly clientId?: string | undefined;
}

type Token = { readonly kind: 'char'; readonly char: string } | { readonly kind: 'star' } | { readonly kind: 'var'; readonly name: keyof ModelVars };

type Segment = 'globstar' | readonly Token[];

const KNOWN = new Set(['subject', 'tenant', 'clientId']);

/** A pattern, or the reason the service must refuse it at load time. */
export type ModelPattern = { readonly ok: true; readonly segments: readonly Segment[] } | { readonly ok: false };

function tokens(segment: string): Token[] | undefined {
  const out: Token[] = [];
  for (let i = 0; i < segment.length; ) {
    const char = segment[i]!;
    if (char === '*') {
      out.push({ kind: 'star' });
      i += 1;
      continue;
    }
    if (char === '{') {
      // A brace only opens one of the three placeholders; anything else is refused.
      const close = segment.indexOf('}', i);
      const name = close < 0 ? '' : segment.slice(i + 1, close);
      if (!KNOWN.has(name)) return undefined;
      out.push({ kind: 'var', name: name as keyof ModelVars });
      i = close + 1;
      continue;
    }
    if (char === '}') return undefined;
    out.push({ kind: 'char', char });
    i += 1;
  }
  return out;
}

export function modelPattern(source: string): ModelPattern {
  if (source.includes('***')) return { ok: false };
  const segments: Segment[] = [];
  for (const segment of source.split('/')) {
    if (segment === '**') {
      segments.push('globstar');
      continue;
    }
    if (segment.includes('**')) return { ok: false };
    const parsed = tokens(segment);
    if (parsed === undefined) return { ok: false };
    segments.push(parsed);
  }
  return { ok: true, segments };
}

/** The spec's rule 3: a value is usable only if it is itself a repository path component. */
export function usableValue(value: string | undefined): value is string {
  if (value === undefined || value === '' || value.length > 255) return false;
  const alnum = (c: string) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  const parts: string[] = [];
  let run = '';
  for (const c of value) {
    if (alnum(c) === alnum(run[0] ?? c)) run += c;
    else {
      parts.push(run);
      run = c;
    }
  }
  parts.push(run);
  if (parts.length % 2 === 0) return false;
  // alternating alnum runs and separator runs, starting and ending with alnum
  return parts.every((part, i) => {
    if (i % 2 === 0) return [...part].every(alnum);
    return part === '.' || part === '_' || part === '__' || /^-+$/.test(part);
  });
}

/** Placeholders replaced by the caller's values as literal characters; undefined when one is unusable. */
function fill(segment: readonly Token[], vars: ModelVars): ('star' | string)[] | undefined {
  const out: ('star' | string)[] = [];
  for (const token of segment) {
    if (token.kind === 'star') out.push('star');
    else if (token.kind === 'char') out.push(token.char);
    else {
      const value = vars[token.name];
      if (!usableValue(value)) return undefined;
      for (const c of value) out.push(c);
    }
  }
  return out;
}

/** `*` is any run of characters (the name segment has no `/` by construction). */
function segmentMatches(glob: readonly ('star' | string)[], text: string): boolean {
  const chars = text.split(''); // UTF-16 units, as a regexp without the u flag sees them
  // memo[g][t]: glob[g..] matches chars[t..]
  const memo = new Map<number, boolean>();
  const go = (g: number, t: number): boolean => {
    const key = g * (chars.length + 1) + t;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (g === glob.length) result = t === chars.length;
    else if (glob[g] === 'star') result = go(g + 1, t) || (t < chars.length && go(g, t + 1));
    else result = t < chars.length && chars[t] === glob[g] && go(g + 1, t + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

/** Whether a (valid) model pattern covers `name` for a caller with `vars`. */
export function modelMatches(pattern: ModelPattern & { ok: true }, name: string, vars: ModelVars): boolean {
  const segments = pattern.segments;
  const filled: (('star' | string)[] | 'globstar')[] = [];
  for (const segment of segments) {
    if (segment === 'globstar') filled.push('globstar');
    else {
      const glob = fill(segment, vars);
      if (glob === undefined) return false;
      filled.push(glob);
    }
  }
  const parts = name.split('/');
  const memo = new Map<number, boolean>();
  const go = (p: number, n: number): boolean => {
    const key = p * (parts.length + 1) + n;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result = false;
    if (p === filled.length) result = n === parts.length;
    else if (filled[p] === 'globstar') {
      // `**` consumes whole, non-empty segments: at least one when it is the last segment.
      const last = p === filled.length - 1;
      for (let k = last ? 1 : 0; n + k <= parts.length && !result; k += 1) {
        if (k > 0 && parts[n + k - 1] === '') break;
        result = go(p + 1, n + k);
      }
    } else result = n < parts.length && segmentMatches(filled[p] as ('star' | string)[], parts[n]!) && go(p + 1, n + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

export interface ModelRule {
  readonly repository?: string;
  readonly registry?: string;
  readonly actions: readonly string[];
}

/** The union of the actions of every rule of the plan that covers (type, name). */
export function modelAllowed(rules: readonly ModelRule[], type: string, name: string, vars: ModelVars): Set<string> {
  const allowed = new Set<string>();
  for (const rule of rules) {
    const ruleType = rule.registry !== undefined ? 'registry' : 'repository';
    if (ruleType !== type) continue;
    const pattern = modelPattern(rule.registry ?? rule.repository ?? '');
    if (!pattern.ok) throw new Error(`model: invalid pattern in a generated plan: ${rule.repository}`);
    if (modelMatches(pattern, name, vars)) for (const action of rule.actions) allowed.add(action);
  }
  return allowed;
}

/** What the docs say a scope is granted: `*` on either side, else the intersection. */
export function modelGrant(requested: ReadonlySet<string>, allowed: ReadonlySet<string>): Set<string> {
  if (allowed.has('*')) return new Set(requested);
  if (requested.has('*')) return new Set(allowed);
  return new Set([...requested].filter((action) => allowed.has(action)));
}
