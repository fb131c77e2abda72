// Keeps docs/clients.md honest: its tables are the rendering of test/clients/flows.ts (the flows
// the real-client suite plays and checks), every flow belongs to a test file that asserts it
// played all of its own, and the prose names no client command the table lacks.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FLOWS } from '../clients/flows.ts';
import { DOC, rendered } from '../clients/render.ts';

const doc = readFileSync(DOC, 'utf8');
const dir = new URL('../clients/', import.meta.url);

describe('docs/clients.md', () => {
  it('holds the current rendering of test/clients/flows.ts (npm run docs:clients)', () => {
    expect(rendered(doc)).toBe(doc);
  });

  it('every flow id is unique and claimed by a test file that asserts it played them all', () => {
    const ids = FLOWS.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    const claims = readdirSync(dir)
      .filter((name) => name.endsWith('.test.ts'))
      .flatMap((name) => [...readFileSync(new URL(name, dir), 'utf8').matchAll(/expectAllPlayed\(([^)]*)\)/g)].flatMap((m) => [...m[1]!.matchAll(/'([^']+)'/g)].map((q) => q[1]!)))
      .concat(['podman.', 'buildah.']); // containersClientSuite(program) claims `${program}.`
    expect(readFileSync(new URL('support/containers-client.ts', dir), 'utf8')).toContain('expectAllPlayed(`${program}.`)');
    expect(ids.filter((id) => !claims.some((prefix) => id.startsWith(prefix)))).toEqual([]);
  });
});
