// WWW-Authenticate (RFC 9110 §11.6.1): one header may hold several challenges, each a scheme
// and auth-params whose quoted values may contain commas and escaped quotes.

export interface Challenge {
  /** Lower case: `bearer`, `basic`, `dpop`. */
  readonly scheme: string;
  /** Parameter names in lower case. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenges(header: string): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let rest = header;
  const skip = (pattern: RegExp) => {
    rest = rest.replace(pattern, '');
  };
  for (;;) {
    skip(/^[\s,]+/);
    const scheme = TOKEN.exec(rest)?.[0];
    if (scheme === undefined) break;
    rest = rest.slice(scheme.length);
    const current = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
    challenges.push(current);
    for (;;) {
      skip(/^[\s,]+/);
      const name = TOKEN.exec(rest)?.[0];
      if (name === undefined) break;
      const after = rest.slice(name.length);
      const equals = /^\s*=\s*/.exec(after);
      // A token not followed by "=" starts the next challenge (or is a token68, which we skip).
      if (equals === null) break;
      rest = after.slice(equals[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (quoted === null) return challenges;
        value = quoted[1]!.replace(/\\(.)/g, '$1');
        rest = rest.slice(quoted[0].length);
      } else {
        // Strictly a token; read up to the next separator, as servers write URLs unquoted too.
        value = /^[^\s,"]*/.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
    }
  }
  return challenges;
}
