// Repository patterns of the plan catalogue, compiled once at load time.
//   *   any run of characters within one path segment (never `/`)
//   **  any number of whole, non-empty segments (`a/**` needs at least one segment below
//       `a`; `**/x` and `a/**/b` also match zero segments, as in .gitignore)
//   {subject} {tenant} {clientId}   the caller's own value, literally, inside one segment
// A placeholder is replaced by the caller's value (as literal text) before matching, never captured
// and compared afterwards: a capture group next to `*` takes as much as the regexp engine
// likes (`{clientId}-*` captured `runner-build` from `runner-build-1`), so it refused callers
// it should grant. A value that is not itself a repository path component (empty, `/`,
// `..`, upper case, anything outside [a-z0-9._-]) never matches.
// Hand-written, and without regexps: the name is the caller's (a scope) and a backtracking
// regexp for `*a*a*b` or `**/{clientId}*{clientId}` takes seconds to minutes on a crafted
// 255-character name, blocking every request meanwhile. Here a segment is matched by the
// leftmost-first scan that is exact for star-only globs (O(name x pattern)), and `**` by a
// memoised walk over segment positions, so the cost is polynomial and small whatever the input.

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

export interface CompiledPattern {
  readonly source: string;
  matches(name: string, vars: PatternVars): boolean;
}

/** One segment's pieces: literal text, `*`, or a placeholder filled in per caller. */
type Piece = { readonly literal: string } | { readonly star: true } | { readonly placeholder: Placeholder };
/** `**`: `min` is 1 when it ends the pattern (`a/**` needs a segment below `a`), else 0. */
type Globstar = { readonly globstar: true; readonly min: 0 | 1 };
type Segment = Globstar | { readonly pieces: readonly Piece[] };

function compileSegment(segment: string): Piece[] {
  const pieces: Piece[] = [];
  for (const piece of segment.split(/(\{[A-Za-z]+\}|\*)/)) {
    if (piece === '') continue;
    if (piece === '*') pieces.push({ star: true });
    else if (/^\{[A-Za-z]+\}$/.test(piece)) {
      const name = piece.slice(1, -1) as Placeholder;
      if (!PLACEHOLDERS.includes(name)) throw new TypeError(`unknown placeholder ${piece} (use {subject}, {tenant} or {clientId})`);
      pieces.push({ placeholder: name });
    } else if (/[{}]/.test(piece)) {
      // No repository name holds a brace: `{tenant_id}` or `{1}` is a mistyped placeholder,
      // a rule that could never match, so it is refused rather than kept as literal text.
      throw new TypeError(`"${segment}": braces only write a placeholder ({subject}, {tenant} or {clientId})`);
    } else pieces.push({ literal: piece });
  }
  return pieces;
}

function compileSegments(source: string): Segment[] {
  if (source.includes('***')) throw new TypeError('"***" is not a pattern; use * or **');
  // `**/**` means no more than `**`.
  const parts = source.split('/').filter((segment, i, all) => !(segment === '**' && all[i - 1] === '**'));
  return parts.map((segment, index) => {
    if (segment === '**') return { globstar: true, min: index === parts.length - 1 ? 1 : 0 };
    if (segment.includes('**')) throw new TypeError(`"**" must be a whole segment in "${source}"`);
    return { pieces: compileSegment(segment) };
  });
}

/**
 * A star-only glob (literal runs between stars) against one segment: the first run is a prefix,
 * the last a suffix, and each run between is found leftmost; for globs whose only wildcard is
 * `*`, the leftmost choice never loses a match, so no backtracking is needed.
 */
function globMatches(runs: readonly string[], starred: boolean, text: string): boolean {
  if (!starred) return text === runs[0];
  const first = runs[0]!;
  const last = runs[runs.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < runs.length - 1; i++) {
    const found = text.indexOf(runs[i]!, at);
    if (found === -1 || found + runs[i]!.length > end) return false;
    at = found + runs[i]!.length;
  }
  return true;
}

/** The segment's literal runs with the caller's values filled in; undefined when one is unusable. */
function runsOf(pieces: readonly Piece[], vars: PatternVars): { runs: string[]; starred: boolean } | undefined {
  const runs = [''];
  let starred = false;
  for (const piece of pieces) {
    if ('star' in piece) {
      starred = true;
      runs.push('');
      continue;
    }
    let text: string;
    if ('literal' in piece) text = piece.literal;
    else {
      const value = vars[piece.placeholder];
      if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH || !VALUE.test(value)) return undefined;
      text = value;
    }
    runs[runs.length - 1] += text;
  }
  return { runs, starred };
}

export function compilePattern(source: string): CompiledPattern {
  const segments = compileSegments(source);
  return {
    source,
    matches(name, vars) {
      const filled: (Globstar | { runs: string[]; starred: boolean })[] = [];
      for (const segment of segments) {
        if ('globstar' in segment) filled.push(segment);
        else {
          const runs = runsOf(segment.pieces, vars);
          if (runs === undefined) return false;
          filled.push(runs);
        }
      }
      const parts = name.split('/');
      // failed[p * (parts.length + 1) + n]: pattern from segment p cannot match the name from part n.
      const failed = new Uint8Array((filled.length + 1) * (parts.length + 1));
      const match = (p: number, n: number): boolean => {
        if (p === filled.length) return n === parts.length;
        const key = p * (parts.length + 1) + n;
        if (failed[key] === 1) return false;
        const segment = filled[p]!;
        let ok = false;
        if ('globstar' in segment) {
          // Zero or more whole, non-empty segments (at least `min`).
          if (segment.min === 0) ok = match(p + 1, n);
          for (let k = n; !ok && k < parts.length && parts[k] !== ''; k++) ok = match(p + 1, k + 1);
        } else ok = n < parts.length && globMatches(segment.runs, segment.starred, parts[n]!) && match(p + 1, n + 1);
        if (!ok) failed[key] = 1;
        return ok;
      };
      return match(0, 0);
    },
  };
}
