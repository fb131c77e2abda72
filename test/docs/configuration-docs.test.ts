// Keeps docs/configuration.md honest: every key of the zod schema (src/config/schema.ts) must have
// a row in the reference, with its environment variable and its default; every row must name a
// key the schema still has; and the shipped sample configuration must load.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { compilePlans } from '../../src/authorize/plans.ts';
import { ENV_PREFIX, loadConfig } from '../../src/config/loader.ts';
import { configSchema } from '../../src/config/schema.ts';

const DOC_PATH = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const SAMPLE_PATH = fileURLToPath(new URL('../../etc/registry-token.yaml', import.meta.url));
const doc = readFileSync(DOC_PATH, 'utf8');

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  valueType?: z.core.$ZodType;
  element?: z.core.$ZodType;
  defaultValue?: unknown;
}

const defOf = (schema: z.core.$ZodType): Def => schema._zod.def as unknown as Def;

/** Strips optional/default/pipe wrappers (as src/config/env.ts does), keeping the outermost default. */
function unwrap(schema: z.core.$ZodType): { node: z.core.$ZodType; hasDefault: boolean; defaultValue: unknown } {
  let node = schema;
  let hasDefault = false;
  let defaultValue: unknown;
  for (let i = 0; i < 10; i++) {
    const def = defOf(node);
    if (def.type === 'default' && !hasDefault) {
      hasDefault = true;
      defaultValue = def.defaultValue;
    }
    if (def.innerType !== undefined) node = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) node = def.in;
    else break;
  }
  return { node, hasDefault, defaultValue };
}

interface KeyInfo {
  /** Dotted path as written in the reference, e.g. `authority.dpop.maxAgeSeconds`, `plans.<plan>[].actions`. */
  readonly path: string;
  /** A top-level section (`server`, `ledger`, ...): documented by its heading, not by a row. */
  readonly section: boolean;
  /** A leaf holds a value; the others are sections, maps and lists of objects. */
  readonly leaf: boolean;
  /** False below a user-named map (plans), where no per-key variable exists. */
  readonly envAddressable: boolean;
  readonly envName: string | undefined;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
}

/** Every key path of the schema, depth first; maps and lists of objects descend with `<name>` / `[]`. */
function walk(schema: z.core.$ZodType, path: string[] = [], display = '', envAddressable = true): KeyInfo[] {
  const { node } = unwrap(schema);
  const def = defOf(node);
  const out: KeyInfo[] = [];
  const visit = (child: z.core.$ZodType, segment: string, childDisplay: string, addressable: boolean) => {
    const info = unwrap(child);
    const childDef = defOf(info.node);
    const elementDef = childDef.type === 'array' && childDef.element !== undefined ? defOf(unwrap(childDef.element).node) : undefined;
    const container = childDef.type === 'object' || childDef.type === 'record' || elementDef?.type === 'object';
    const segments = [...path, segment];
    out.push({
      path: childDisplay,
      section: path.length === 0 && childDef.type === 'object',
      leaf: !container,
      envAddressable: addressable,
      envName: addressable ? `${ENV_PREFIX}${segments.map((s) => s.toUpperCase()).join('__')}` : undefined,
      hasDefault: info.hasDefault,
      defaultValue: info.defaultValue,
    });
    out.push(...walk(child, segments, childDisplay, addressable));
  };
  if (def.type === 'object' && def.shape !== undefined) {
    for (const [key, child] of Object.entries(def.shape)) visit(child, key, display === '' ? key : `${display}.${key}`, envAddressable);
  } else if (def.type === 'record' && def.valueType !== undefined) {
    const name = `<${(path.at(-1) ?? 'key').replace(/s$/, '')}>`;
    const value = unwrap(def.valueType);
    const valueDef = defOf(value.node);
    if (valueDef.type === 'array' && valueDef.element !== undefined) {
      for (const item of walk(valueDef.element, [...path, name, '[]'], `${display}.${name}[]`, false)) out.push(item);
    } else {
      out.push(...walk(def.valueType, [...path, name], `${display}.${name}`, false));
    }
  } else if (def.type === 'array' && def.element !== undefined && defOf(unwrap(def.element).node).type === 'object') {
    out.push(...walk(def.element, [...path, '[]'], `${display}[]`, false));
  }
  return out;
}

const keys = walk(configSchema as unknown as z.core.$ZodType);

/** The table row documenting `path`: a line starting with "| `path` |". */
function rowOf(path: string): string | undefined {
  const start = `| \`${path}\` |`;
  return doc.split('\n').find((line) => line.startsWith(start));
}

/** The reference part of the page: from "## Keys, section by section" to the next level-2 heading. */
function referenceRows(): string[] {
  const start = doc.indexOf('\n## Keys, section by section');
  expect(start, 'docs/configuration.md has a "## Keys, section by section" part').toBeGreaterThan(-1);
  const end = doc.indexOf('\n## ', start + 1);
  const part = doc.slice(start, end === -1 ? undefined : end);
  return part
    .split('\n')
    .map((line) => /^\| `([^`]+)` \|/.exec(line)?.[1])
    .filter((key): key is string => key !== undefined);
}

/** The cells of a table row, without the outer pipes. */
function cells(row: string): string[] {
  return row.replace(/^\|\s*/, '').replace(/\s*\|\s*$/, '').split(/\s+\|\s+/);
}

/**
 * How a default may be written in the Default column, as in the schema source: strings quoted
 * (`'info'`), numbers plain or with `_` groups (`100_000`) or computed with the value in
 * parentheses (`64 * 1024 * 1024` (67108864)), lists as `['a', 'b']`.
 */
function defaultSpellings(value: unknown): string[] {
  if (typeof value === 'string') return [`\`'${value}'\``];
  if (typeof value === 'boolean') return [`\`${value}\``];
  if (typeof value === 'number') {
    const grouped = String(value).replace(/\B(?=(\d{3})+(?!\d))/g, '_');
    return [`\`${value}\``, `\`${grouped}\``, `(${value})`];
  }
  if (Array.isArray(value)) return [`\`[${value.map((item) => (typeof item === 'string' ? `'${item}'` : String(item))).join(', ')}]\``];
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 0) return ['`{}`'];
  return [JSON.stringify(value)];
}

describe('docs/configuration.md', () => {
  it('walks the real schema (sanity check of the walker)', () => {
    const paths = keys.map((k) => k.path);
    for (const expected of [
      'server.port',
      'server.tls.clientCaPath',
      'authority.dpop.maxAgeSeconds',
      'authority.claims.tenant',
      'signing.lifetimeSeconds',
      'registry.allowedServices',
      'plans',
      'plans.<plan>[].actions',
      'defaultPlan',
      'revokedLicenses',
      'ledger.mongodb.uri',
      'admin.requiredScope',
      'telemetry.logLevel',
    ]) {
      expect(paths).toContain(expected);
    }
    expect(keys.length).toBeGreaterThan(50);
  });

  it('has a heading for every top-level section', () => {
    const headings = new Set(doc.split('\n').filter((line) => line.startsWith('### ')).map((line) => line.slice(4).trim()));
    const missing = keys.filter((k) => k.section && !headings.has(k.path)).map((k) => k.path);
    expect(missing, `sections without a "### section" heading in ${DOC_PATH}`).toEqual([]);
  });

  it('has a table row for every key of the schema', () => {
    const missing = keys.filter((k) => !k.section && rowOf(k.path) === undefined).map((k) => k.path);
    expect(missing, `keys without a row "| \`key\` |" in ${DOC_PATH}`).toEqual([]);
  });

  it('names the environment variable of every key that has one', () => {
    const wrong = keys
      .filter((k) => !k.section && k.envName !== undefined && !(rowOf(k.path) ?? '').includes(`\`${k.envName}\``))
      .map((k) => `${k.path} (expected ${k.envName})`);
    expect(wrong).toEqual([]);
  });

  it('states the schema default of every key with a default, in the Default column', () => {
    const header = doc.split('\n').find((line) => line.startsWith('| Key | Type | Default | Environment variable | Meaning |'));
    expect(header, 'key tables have the columns Key, Type, Default, Environment variable, Meaning').toBeDefined();
    const wrong: string[] = [];
    for (const key of keys.filter((k) => !k.section && k.hasDefault && (k.leaf || k.path === 'plans'))) {
      const cell = cells(rowOf(key.path) ?? '')[2] ?? '';
      // The one default that depends on the machine: the doc must say what it is computed from.
      if (key.path === 'server.workers') {
        if (!cell.includes('availableParallelism()')) wrong.push(`${key.path}: Default column "${cell}" does not say it is the number of CPUs`);
        continue;
      }
      if (!defaultSpellings(key.defaultValue).some((spelling) => cell.includes(spelling))) {
        wrong.push(`${key.path}: Default column "${cell}" does not show ${defaultSpellings(key.defaultValue).join(' or ')}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('documents no key the schema does not have', () => {
    const known = new Set(keys.map((k) => k.path));
    const stale = referenceRows().filter((key) => !known.has(key));
    expect(stale, 'rows of the key reference that name no schema key').toEqual([]);
  });
});

describe('etc/registry-token.yaml', () => {
  it('loads with loadConfig and its plans compile', () => {
    // An empty environment: REGISTRY_TOKEN_* variables of the test run must not change the result.
    const config = loadConfig({ path: SAMPLE_PATH, env: {} });
    expect(config.authority.issuer).toBe('http://127.0.0.1:8086');
    expect(config.defaultPlan).toBeDefined();
    expect(Object.keys(config.plans)).toContain(config.defaultPlan);
    const catalogue = compilePlans(config.plans, config.defaultPlan);
    expect(catalogue.plans.size).toBe(Object.keys(config.plans).length);
  });
});
