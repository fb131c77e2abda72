// The credential helper's cache: one 0600 file per registry holding the last credential, handed
// out again until `renewBeforeSeconds` before it expires, so `docker pull` does not ask the
// Authority and the token service every time. A credential asked with other settings
// (Authority, client, token service, narrowing) is not reused: its fingerprint differs.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../record/atomic-file.ts';

const entrySchema = z.object({
  fingerprint: z.string(),
  id: z.string(),
  username: z.string(),
  credential: z.string(),
  expires_at: z.string(),
});

export type CachedCredential = z.infer<typeof entrySchema>;

/** What decides which credential a registry gets; never a secret. */
export function fingerprint(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

export class CredentialCache {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #file(registry: string): string {
    return join(this.#dir, `${encodeURIComponent(registry)}.json`);
  }

  /** The cached credential when it was asked with `print` and stays valid past `renewBeforeMs`. */
  async fresh(registry: string, print: string, renewBeforeMs: number, now = Date.now()): Promise<CachedCredential | undefined> {
    const file = this.#file(registry);
    let entry: CachedCredential;
    try {
      // A cache someone else could read is not trusted to be ours either.
      if (((await stat(file)).mode & 0o077) !== 0) return undefined;
      entry = entrySchema.parse(JSON.parse(await readFile(file, 'utf8')));
    } catch {
      return undefined;
    }
    if (entry.fingerprint !== print) return undefined;
    const expires = Date.parse(entry.expires_at);
    if (Number.isNaN(expires) || expires - renewBeforeMs <= now) return undefined;
    return entry;
  }

  async put(registry: string, entry: CachedCredential): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.#file(registry), `${JSON.stringify(entry)}\n`, 0o600);
  }

  async drop(registry: string): Promise<void> {
    await rm(this.#file(registry), { force: true });
  }
}
