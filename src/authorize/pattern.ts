// Repository patterns of the plan catalogue, compiled once at load time.
//   *   any run of characters within one path segment
//   **  any number of whole segments (`a/**` needs at least one segment below `a`;
//       `**/x` and `a/**/b` also match zero segments, as in .gitignore)
//   {subject} {tenant} {clientId}   one segment equal to the caller's own value
// Hand-written: the semantics (placeholders bound to the caller) are ours, and a regex
// compiled once is cheaper per request than any general glob library call.

export interface PatternVars {
  readonly subject?: string | undefined;
  readonly tenant?: string | undefined;
  readonly clientId?: string | undefined;
}

const PLACEHOLDERS = ['subject', 'tenant', 'clientId'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

export interface CompiledPattern {
  readonly source: string;
  matches(name: string, vars: PatternVars): boolean;
}

function escape(text: string): string {
  return text.replace(/[.+?^$()|[\]\\]/g, '\\$&');
}

function compileSegment(segment: string, groups: Placeholder[]): string {
  let out = '';
  for (const part of segment.split(/(\{[A-Za-z]+\}|\*)/)) {
    if (part === '') continue;
    if (part === '*') out += '[^/]*';
    else if (part.startsWith('{') && part.endsWith('}')) {
      const name = part.slice(1, -1) as Placeholder;
      if (!PLACEHOLDERS.includes(name)) throw new TypeError(`unknown placeholder ${part} (use {subject}, {tenant} or {clientId})`);
      groups.push(name);
      out += '([^/]+)';
    } else out += escape(part).replace(/\{|\}/g, '\\$&');
  }
  return out;
}

export function compilePattern(source: string): CompiledPattern {
  if (source.includes('***')) throw new TypeError('"***" is not a pattern; use * or **');
  // `**/**` means no more than `**`: collapse runs so the compiled form stays simple.
  const segments = source.split('/').filter((segment, i, all) => !(segment === '**' && all[i - 1] === '**'));
  const groups: Placeholder[] = [];
  let regex = '';
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      if (segments.length === 1) regex += '.+';
      else if (last) regex += '/.+';
      else regex += index === 0 ? '(?:[^/]+/)*' : '(?:/[^/]+)*';
      return;
    }
    if (segment.includes('**')) throw new TypeError(`"**" must be a whole segment in "${source}"`);
    const previousWasDoubleStar = index > 0 && segments[index - 1] === '**';
    const separator = index === 0 || (previousWasDoubleStar && index === 1) ? '' : '/';
    regex += separator + compileSegment(segment, groups);
  });
  const compiled = new RegExp(`^${regex}$`);
  if (groups.length === 0) {
    return { source, matches: (name) => compiled.test(name) };
  }
  return {
    source,
    matches(name, vars) {
      const match = compiled.exec(name);
      if (match === null) return false;
      return groups.every((group, i) => vars[group] !== undefined && match[i + 1] === vars[group]);
    },
  };
}
