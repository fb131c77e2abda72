// Revocations for the file driver: one small JSON file, rewritten whole and atomically on each
// change. Revocations are few and rarely change, so a rewrite costs nothing and the file is
// always either the old or the new list, never a mixture. One process writes it at a time
// (dir-lock.ts): two would each rewrite the file from their own list and drop the other's changes.
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { acquireLock } from './dir-lock.ts';
import type { Lock } from './dir-lock.ts';
import { REVOCATION_KINDS, revocationKey, type Revocation, type RevocationKind } from './ledger.ts';

export class RevocationFile {
  readonly #path: string;
  readonly #lock: Lock;
  #revocations: Revocation[];
  /** Serializes changes so two concurrent puts cannot overwrite each other's file. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(path: string, revocations: Revocation[], lock: Lock) {
    this.#path = path;
    this.#lock = lock;
    this.#revocations = revocations;
  }

  /** Refuses a corrupt file rather than start with revocations silently forgotten. */
  static async open(path: string): Promise<RevocationFile> {
    const lock = await acquireLock(dirname(path), basename(path), `revocations file ${path}`);
    try {
      return new RevocationFile(path, await readList(path), lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Waits for a change in progress, then lets another process take the file. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#lock.release();
  }

  list(): Revocation[] {
    return this.#revocations.map((r) => ({ ...r }));
  }

  put(revocation: Revocation): Promise<void> {
    const key = revocationKey(revocation.kind, revocation.value, revocation.tenant);
    return this.#change((list) => [...list.filter((r) => keyOf(r) !== key), { ...revocation }]).then(() => {});
  }

  delete(kind: RevocationKind, value: string, tenant?: string): Promise<boolean> {
    const key = revocationKey(kind, value, tenant);
    return this.#change((list) => list.filter((r) => keyOf(r) !== key));
  }

  /** Resolves true when the list changed. */
  #change(edit: (list: Revocation[]) => Revocation[]): Promise<boolean> {
    const run = this.#tail.then(async () => {
      const next = edit(this.#revocations).sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      const changed = JSON.stringify(next) !== JSON.stringify(this.#revocations);
      if (!changed) return false;
      await writeFileAtomic(this.#path, `${JSON.stringify({ revocations: next }, null, 2)}\n`);
      this.#revocations = next;
      return true;
    });
    this.#tail = run.catch(() => {});
    return run;
  }
}

async function readList(path: string): Promise<Revocation[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  const list = (parsed as { revocations?: unknown } | null)?.revocations;
  if (!Array.isArray(list) || !list.every(isRevocation)) throw new Error(`${path}: not a revocations file`);
  return list;
}

function keyOf(r: Revocation): string {
  return revocationKey(r.kind, r.value, r.tenant);
}

function isRevocation(value: unknown): value is Revocation {
  const r = value as Partial<Revocation> | null;
  return (
    typeof r === 'object' && r !== null &&
    REVOCATION_KINDS.includes(r.kind as RevocationKind) &&
    typeof r.value === 'string' && typeof r.reason === 'string' && typeof r.revokedAt === 'string' &&
    (r.tenant === undefined || typeof r.tenant === 'string')
  );
}
