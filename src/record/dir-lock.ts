// One process at a time per ledger directory, spool directory and revocations file: a second
// writer would write at its own idea of the end and overwrite acknowledged records.
//
// The lock is a small JSON file naming the holder (pid, host, since), created with link(2) so
// it appears complete or not at all. Each holder also listens on a Unix socket whose path the
// lock names: the kernel refuses connections to it the moment the holder dies (SIGKILL, OOM,
// power loss), in any PID namespace, so a dead holder is told from a live one without timers
// or guesses about PID reuse. A holder on another host cannot be probed; its lock is never
// taken over automatically (the message says how to remove it once that host is known down).
import { randomBytes } from 'node:crypto';
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fsyncDir } from './atomic-file.ts';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO 8601 UTC. */
  readonly since: string;
  /** File name (in the same directory) of the holder's liveness socket; absent when none could be bound. */
  readonly socket?: string | undefined;
}

/** Thrown when another live process (or one that cannot be judged) holds the lock. */
export class LockHeldError extends Error {
  readonly holder: LockHolder | undefined;
  readonly lockPath: string;
  constructor(what: string, lockPath: string, holder: LockHolder | undefined, why: string) {
    const who = holder === undefined ? 'an unknown holder' : `pid ${holder.pid} on host ${holder.host} since ${holder.since}`;
    super(`${what} is in use by ${who} (${why}); refusing to start so that no acknowledged record is overwritten. ` +
      `Stop that process first; if it is certainly gone (e.g. its host is down), remove ${lockPath}.`);
    this.name = 'LockHeldError';
    this.holder = holder;
    this.lockPath = lockPath;
  }
}

export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

/** Locks this process holds: a second open within one process is refused like one from another. */
const held = new Map<string, LockHolder>();

/**
 * Takes `<dir>/.<name>.lock` or throws LockHeldError. `what` names the resource in messages
 * ("ledger directory /var/ledger").
 */
export async function acquireLock(dir: string, name: string, what: string): Promise<Lock> {
  const lockPath = resolve(join(dir, `.${name}.lock`));
  const holding = held.get(lockPath);
  if (holding !== undefined) throw new LockHeldError(what, lockPath, holding, 'this very process already opened it');
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  held.set(lockPath, me);
  const tag = randomBytes(6).toString('hex');
  const socketName = `.${name}-${tag}.sock`;
  const socketPath = join(dir, socketName);
  let server: Server | undefined;
  let tmp: string | undefined;
  try {
    server = await listen(socketPath);
    const content: LockHolder = { ...me, ...(server === undefined ? {} : { socket: socketName }) };
    tmp = join(dir, `.${name}-${tag}.tmp`);
    await writeFile(tmp, `${JSON.stringify(content)}\n`, { mode: 0o640, flush: true });
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, lockPath);
        break;
      } catch (error) {
        // Each turn either takes the lock, breaks a dead holder's, waits for another breaker, or
        // throws LockHeldError; a few hundred turns are seconds, never a live holder's lock.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 300) throw error;
      }
      await breakIfStale(dir, lockPath, what, tmp);
    }
    await fsyncDir(dir);
    const taken = server;
    return {
      path: lockPath,
      async release() {
        if (!held.has(lockPath)) return;
        held.delete(lockPath);
        await unlink(lockPath).catch(() => {});
        await closeServer(taken, socketPath);
        await fsyncDir(dir).catch(() => {});
      },
    };
  } catch (error) {
    held.delete(lockPath);
    await closeServer(server, socketPath);
    throw error;
  } finally {
    if (tmp !== undefined) await unlink(tmp).catch(() => {});
  }
}

/** How long a breaker may take before its break is presumed abandoned (it died mid-break). */
const ABANDONED_BREAK_MS = 5_000;

/**
 * Removes the lock when its holder is provably dead; throws LockHeldError otherwise. Returns to
 * retry. Breakers take turns under `<lock>.break` (created with link(2), so exclusive) and
 * remove the lock only if it still holds the very text they judged dead: without the turn, two
 * starters that both judged the old lock dead could each remove the other's fresh lock, and
 * several would believe they hold it.
 */
async function breakIfStale(dir: string, lockPath: string, what: string, tmp: string): Promise<void> {
  const text = await readOrUndefined(lockPath);
  if (text === undefined) return; // released meanwhile
  const holder = parseHolder(text);
  if (holder === undefined) throw new LockHeldError(what, lockPath, undefined, 'the lock file is not readable as a lock');
  const why = await staleness(dir, holder);
  if (why !== undefined) throw new LockHeldError(what, lockPath, holder, why);
  const breaker = `${lockPath}.break`;
  try {
    await link(tmp, breaker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const since = await stat(breaker).then((s) => s.mtimeMs, () => undefined);
    if (since !== undefined && Date.now() - since > ABANDONED_BREAK_MS) await unlink(breaker).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    return;
  }
  try {
    if ((await readOrUndefined(lockPath)) === text) {
      await unlink(lockPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      if (holder.socket !== undefined) await unlink(join(dir, holder.socket)).catch(() => {});
    }
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

/** undefined when the holder is certainly dead; otherwise why it must be presumed alive. */
async function staleness(dir: string, holder: LockHolder): Promise<string | undefined> {
  if (holder.host !== hostname()) return 'a process on another host cannot be checked from here';
  if (holder.socket !== undefined) {
    const probe = await connectProbe(join(dir, holder.socket));
    return probe === 'dead' ? undefined : probe === 'alive' ? 'it is running' : `its liveness cannot be checked: ${probe}`;
  }
  // No socket (the filesystem refused one): fall back to the PID, which is sound in one PID namespace.
  if (holder.pid === process.pid) return undefined;
  try {
    process.kill(holder.pid, 0);
    return 'it is running';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? undefined : 'it is running under another user';
  }
}

function connectProbe(path: string): Promise<'alive' | 'dead' | string> {
  return new Promise((done) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      done('no answer within 2 s');
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      done('alive');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? 'dead' : (error.code ?? error.message));
    });
  });
}

/** undefined when this filesystem cannot hold a socket (or the path is too long for one). */
function listen(path: string): Promise<Server | undefined> {
  return new Promise((done) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', () => done(undefined));
    server.listen(path, () => {
      server.unref();
      done(server);
    });
  });
}

async function closeServer(server: Server | undefined, path: string): Promise<void> {
  if (server === undefined) return;
  await new Promise<void>((done) => server.close(() => done()));
  await unlink(path).catch(() => {});
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder> | null;
    if (typeof value?.pid !== 'number' || typeof value.host !== 'string' || typeof value.since !== 'string') return undefined;
    if (value.socket !== undefined && (typeof value.socket !== 'string' || value.socket.includes('/'))) return undefined;
    return value as LockHolder;
  } catch {
    return undefined;
  }
}
