// REGISTRY_TOKEN_SIGNING__LIFETIMESECONDS=120 style overrides. Hand-written because the
// mapping depends on our schema: names are case-insensitive, so each segment is resolved
// against the schema's own keys (or the file's, for user-named maps such as plans), and the
// value is converted to the type the schema expects there.
import { z } from 'zod';
import { ConfigError } from '../domain/errors.ts';
import { configSchema } from './schema.ts';

type Json = unknown;

/** Strips optional/default/pipe wrappers to reach the schema that describes the value. */
function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let current = schema;
  for (let i = 0; i < 10 && current !== undefined; i++) {
    const def = current._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType !== undefined) current = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) current = def.in;
    else break;
  }
  return current;
}

function childSchema(schema: z.core.$ZodType | undefined, key: string): z.core.$ZodType | undefined {
  const node = unwrap(schema);
  if (node === undefined) return undefined;
  const def = node._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; valueType?: z.core.$ZodType };
  if (def.type === 'object' && def.shape !== undefined) return def.shape[key];
  if (def.type === 'record') return def.valueType;
  return undefined;
}

function schemaKeys(schema: z.core.$ZodType | undefined): string[] {
  const node = unwrap(schema);
  const def = node?._zod.def as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
}

function convert(raw: string, schema: z.core.$ZodType | undefined, name: string): Json {
  const type = (unwrap(schema)?._zod.def as { type?: string } | undefined)?.type;
  const trimmed = raw.trim();
  switch (type) {
    case 'number': {
      const value = Number(trimmed);
      if (trimmed === '' || Number.isNaN(value)) throw new ConfigError([`${name}: "${raw}" is not a number`]);
      return value;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(trimmed)) return true;
      if (/^(false|0|no)$/i.test(trimmed)) return false;
      throw new ConfigError([`${name}: "${raw}" is not a boolean (true or false)`]);
    case 'array':
      if (trimmed.startsWith('[')) return parseJson(trimmed, name);
      return trimmed === '' ? [] : trimmed.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'object':
    case 'record':
      return parseJson(trimmed, name);
    default:
      return raw;
  }
}

function parseJson(text: string, name: string): Json {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError([`${name}: expected JSON here, got "${text.slice(0, 40)}"`]);
  }
}

/**
 * Names under the prefix that are not keys: the configuration file's own, and the client tools'
 * (src/client/), which may well be set where the service runs too.
 */
const NOT_KEYS = ['CONFIG', 'CLIENT_SECRET', 'HELPER_CONFIG'];

export function applyEnvOverrides(document: unknown, env: NodeJS.ProcessEnv, prefix: string): unknown {
  const root = structuredClone((document ?? {}) as Record<string, Json>);
  const reserved = new Set(NOT_KEYS.map((name) => `${prefix}${name}`));
  const names = Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith(prefix) && !reserved.has(name.toUpperCase()))
    .sort();
  for (const name of names) {
    const segments = name.slice(prefix.length).split('__').map((s) => s.toLowerCase());
    if (segments.some((s) => s === '')) throw new ConfigError([`${name}: empty key segment (use __ between keys)`]);
    let node: Record<string, Json> = root;
    let schema: z.core.$ZodType | undefined = configSchema;
    segments.forEach((segment, index) => {
      const existing = Object.keys(node);
      const key =
        schemaKeys(schema).find((k) => k.toLowerCase() === segment) ??
        existing.find((k) => k.toLowerCase() === segment);
      if (key === undefined) {
        throw new ConfigError([`${name}: no configuration key "${segments.slice(0, index + 1).join('.')}"`]);
      }
      schema = childSchema(schema, key);
      if (index === segments.length - 1) {
        node[key] = convert(env[name] ?? '', schema, name);
        return;
      }
      const next = node[key];
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) {
        throw new ConfigError([`${name}: "${key}" is not a section`]);
      }
      node = node[key] as Record<string, Json>;
    });
  }
  return root;
}
