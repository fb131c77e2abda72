// Small files that must never be seen half-written (revocations, spool progress, the client
// tools' docker config.json and credential cache): write a temporary file, fsync it, rename it
// over the old one, fsync the directory so the rename itself survives a power cut.
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** `mode` is the new file's, less what the umask takes (0o600 for a file holding a secret). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o640): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
  await fsyncDir(dirname(path));
}

/** Makes created, renamed and removed entries of `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p that survives a power cut: each directory it creates is made durable in its parent
 * (a new directory's entry lives in the parent, which the directory's own fsync does not cover).
 */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  const top = resolve(first);
  for (let current = resolve(dir); ; current = dirname(current)) {
    await fsyncDir(dirname(current));
    if (current === top || dirname(current) === current) return;
  }
}
