// The encodings every bundle file is written in, so that the same input gives the same bytes
// (docs/offline.md, "Determinism rules"): JSON with members sorted by code unit, two-space
// indentation and one final LF; PEM with 64-character lines; UTF-8 without BOM; LF only.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function sorted(value: unknown, at: string): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    // Only integers: a float's text form is where JSON encoders differ.
    if (!Number.isSafeInteger(value)) throw new TypeError(`${at}: bundle JSON holds integers only, not ${value}`);
    return value;
  }
  if (Array.isArray(value)) return value.map((item, index) => sorted(item, `${at}[${index}]`));
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    // Default sort compares UTF-16 code units, the order RFC 8785 uses too.
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = sorted(member, `${at}.${key}`);
    }
    return out;
  }
  throw new TypeError(`${at}: ${typeof value} has no JSON form`);
}

/** Canonical JSON text of a value: sorted members, two-space indent, LF, final newline. */
export function canonicalJson(value: unknown): string {
  return `${JSON.stringify(sorted(value, '$'), null, 2)}\n`;
}

/** One certificate, base64 DER, as an RFC 7468 PEM block (64-character lines, LF). */
export function pemCertificate(derBase64: string): string {
  const body = Buffer.from(derBase64, 'base64').toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** A YAML scalar: a JSON string is a valid YAML double-quoted scalar. */
export const yamlString = (value: string): string => JSON.stringify(value);

/**
 * The bundle's creation time: whole seconds, UTC, `Z`. It is the only time in a bundle, so
 * rerunning with the same `--created` (or SOURCE_DATE_EPOCH) reproduces every byte.
 */
export function bundleTime(created: string | undefined, env: NodeJS.ProcessEnv, now: () => Date): string {
  let date: Date;
  if (created !== undefined) {
    date = new Date(created);
    if (Number.isNaN(date.getTime()) || !/(Z|[+-]\d\d:\d\d)$/i.test(created)) {
      throw new RangeError(`--created: "${created}" is not an RFC 3339 time with a zone (e.g. 2026-11-01T00:00:00Z)`);
    }
  } else if (env['SOURCE_DATE_EPOCH'] !== undefined && env['SOURCE_DATE_EPOCH'] !== '') {
    const seconds = Number(env['SOURCE_DATE_EPOCH']);
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`SOURCE_DATE_EPOCH: "${env['SOURCE_DATE_EPOCH']}" is not a whole number of seconds`);
    date = new Date(seconds * 1000);
  } else date = now();
  if (date.getUTCMilliseconds() !== 0) {
    if (created !== undefined) throw new RangeError(`--created: "${created}" has a fraction of a second; bundles record whole seconds`);
    date = new Date(Math.floor(date.getTime() / 1000) * 1000);
  }
  return date.toISOString().replace('.000Z', 'Z');
}
