// Keeps docs/credential-helper.md honest: every key of the helper's settings schema
// (src/client/settings.ts) has a row in its "Settings keys" table, and every row names a key
// the schema still has.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { settingsSchema } from '../../src/client/settings.ts';

const doc = readFileSync(new URL('../../docs/credential-helper.md', import.meta.url), 'utf8');

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  valueType?: z.core.$ZodType;
}

function unwrap(schema: z.core.$ZodType): Def {
  let def = schema._zod.def as unknown as Def;
  for (let i = 0; i < 10; i++) {
    if (def.innerType !== undefined) def = def.innerType._zod.def as unknown as Def;
    else if (def.type === 'pipe' && def.in !== undefined) def = def.in._zod.def as unknown as Def;
    else break;
  }
  return def;
}

function keys(schema: z.core.$ZodType, prefix = ''): string[] {
  const def = unwrap(schema);
  if (def.type === 'object' && def.shape !== undefined) {
    return Object.entries(def.shape).flatMap(([key, child]) => [`${prefix}${key}`, ...keys(child, `${prefix}${key}.`)]);
  }
  if (def.type === 'record' && def.valueType !== undefined) return keys(def.valueType, `${prefix}<registry>.`);
  return [];
}

function documented(): string[] {
  const table = doc.slice(doc.indexOf('### Settings keys'), doc.indexOf('### What each action does'));
  return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]!);
}

describe('docs/credential-helper.md', () => {
  it('documents every settings key, and only those', () => {
    const schemaKeys = keys(settingsSchema);
    expect(schemaKeys).toContain('registries.<registry>.authority.clientId');
    expect(documented().sort()).toEqual(schemaKeys.sort());
  });
});
