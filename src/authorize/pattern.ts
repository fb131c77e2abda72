// Repository patterns of the plan catalogue, compiled once at load time.
//   *   any run of characters within one path segment (never `/`)
//   **  any number of whole, non-empty segments (`a/**` needs at least one segment below
//       `a`; `**/x` and `a/**/b` also match zero segments, as in .gitignore)
//   {subject} {tenant} {clientId}   the caller's own value, literally, inside one segment
// A placeholder is replaced by the caller's (escaped) value before matching, never captured
// and compared afterwards: a capture group next to `*` takes as much as the regexp engine
// likes (`{clientId}-*` captured `runner-build` from `runner-build-1`), so it refused callers
// it should grant. A value that is not itself a repository path component (empty, `/`,
// `..`, upper case, anything outside [a-z0-9._-]) never matches.
// Hand-written: the semantics (placeholders bound to the caller) are ours, and a regex
// compiled once (once per caller value, cached, for placeholders) is cheaper per request
// than any general glob library call.

export interface PatternVars {
  readonly subject?: string | undefined;
  readonly tenant?: string | undefined;
  readonly clientId?: string | undefined;
}

const PLACEHOLDERS = ['subject', 'tenant', 'clientId'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** What a placeholder value may be: one repository path component (distribution/reference). */
const VALUE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const MAX_VALUE_LENGTH = 255;
/** Compiled regexps kept per pattern, one per distinct set of caller values. */
const MAX_CACHED_PER_PATTERN = 256;

export interface CompiledPattern {
  readonly source: string;
  matches(name: string, vars: PatternVars): boolean;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Regexp source fragments, with the placeholders left as names to fill in per caller. */
type Part = string | { readonly placeholder: Placeholder };

function compileSegment(segment: string, parts: Part[]): void {
  for (const piece of segment.split(/(\{[A-Za-z]+\}|\*)/)) {
    if (piece === '') continue;
    if (piece === '*') parts.push('[^/]*');
    else if (/^\{[A-Za-z]+\}$/.test(piece)) {
      const name = piece.slice(1, -1) as Placeholder;
      if (!PLACEHOLDERS.includes(name)) throw new TypeError(`unknown placeholder ${piece} (use {subject}, {tenant} or {clientId})`);
      parts.push({ placeholder: name });
    } else if (/[{}]/.test(piece)) {
      // No repository name holds a brace: `{tenant_id}` or `{1}` is a mistyped placeholder,
      // a rule that could never match, so it is refused rather than kept as literal text.
      throw new TypeError(`"${segment}": braces only write a placeholder ({subject}, {tenant} or {clientId})`);
    } else parts.push(escape(piece));
  }
}

function compileParts(source: string): Part[] {
  if (source.includes('***')) throw new TypeError('"***" is not a pattern; use * or **');
  // `**/**` means no more than `**`: collapse runs so the compiled form stays simple.
  const segments = source.split('/').filter((segment, i, all) => !(segment === '**' && all[i - 1] === '**'));
  const parts: Part[] = [];
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      if (segments.length === 1) parts.push('[^/]+(?:/[^/]+)*');
      else if (last) parts.push('(?:/[^/]+)+');
      else parts.push(index === 0 ? '(?:[^/]+/)*' : '(?:/[^/]+)*');
      return;
    }
    if (segment.includes('**')) throw new TypeError(`"**" must be a whole segment in "${source}"`);
    const previousWasDoubleStar = index > 0 && segments[index - 1] === '**';
    if (!(index === 0 || (previousWasDoubleStar && index === 1))) parts.push('/');
    compileSegment(segment, parts);
  });
  return parts;
}

export function compilePattern(source: string): CompiledPattern {
  const parts = compileParts(source);
  const placeholders = [...new Set(parts.filter((part) => typeof part !== 'string').map((part) => part.placeholder))];
  if (placeholders.length === 0) {
    const compiled = new RegExp(`^${parts.join('')}$`);
    return { source, matches: (name) => compiled.test(name) };
  }
  // Any name the pattern grants to some caller has this shape: a cheap first test, so that the
  // per-caller regexps are only built (and cached) for names that could match at all.
  const shape = new RegExp(`^${parts.map((part) => (typeof part === 'string' ? part : '[a-z0-9._-]+')).join('')}$`);
  const cache = new Map<string, RegExp>();
  return {
    source,
    matches(name, vars) {
      if (!shape.test(name)) return false;
      const values: string[] = [];
      for (const placeholder of placeholders) {
        const value = vars[placeholder];
        if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH || !VALUE.test(value)) return false;
        values.push(value);
      }
      const key = values.join('/');
      let compiled = cache.get(key);
      if (compiled === undefined) {
        const filled = parts.map((part) => (typeof part === 'string' ? part : escape(vars[part.placeholder]!)));
        compiled = new RegExp(`^${filled.join('')}$`);
        if (cache.size >= MAX_CACHED_PER_PATTERN) cache.delete(cache.keys().next().value!);
        cache.set(key, compiled);
      }
      return compiled.test(name);
    },
  };
}
