// The primary of `server.workers > 1`: it serves no request itself. It forks the workers (one
// listening port, node:cluster hands connections round robin), replaces one that dies (after a
// back-off when it keeps dying), drains them all on SIGTERM/SIGINT, and passes SIGHUP (or a
// change of the file with --watch) on as a reload to each. It holds what the workers share when
// there is no Redis (store-host.ts), the ledger path's lock, and gathers /metrics from all.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { configPathFromEnv, loadConfig } from '../config/loader.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../domain/errors.ts';
import { holdLedgerPath } from '../record/index.ts';
import { ledgerRevocations } from '../store/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import { openLink, notify, type Channel } from './link.ts';
import { mergeExpositions } from './metrics.ts';
import { SLOT_ENV, type Welcome } from './roles.ts';
import { openStoreHost } from './store-host.ts';

export interface PrimaryOptions {
  readonly config: Config;
  readonly configPath: string | undefined;
  readonly watch: boolean;
  readonly logger: Logger;
}

/** A worker that lived this long before dying is replaced at once; sooner, the wait doubles. */
const STABLE_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
const LINK_TIMEOUT_MS = 5_000;

interface Slot {
  worker: Worker | undefined;
  link: ReturnType<typeof openLink> | undefined;
  startedAt: number;
  /** Deaths in a row, each within STABLE_MS of its start. */
  quickDeaths: number;
  listening: boolean;
}

/** Resolves with the process exit code once every worker has stopped. */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { config, logger } = options;
  const count = config.server.workers;
  let hold: Awaited<ReturnType<typeof holdLedgerPath>> | undefined;
  try {
    if (config.ledger.driver === 'file') hold = await holdLedgerPath(config.ledger.path);
  } catch (error) {
    process.stderr.write(`registry-token: cannot start: ${(error as Error).message}\n`);
    return 1;
  }
  const nonceSecret = config.authority.dpop.nonceSecret ?? randomBytes(32).toString('base64url');
  const slots = new Map<number, Slot>();
  const channels = () => [...slots.values()].flatMap((s) => (s.worker === undefined ? [] : [s.worker as unknown as Channel]));
  const host = config.store.driver === 'memory'
    ? openStoreHost({
        replay: { capacity: config.authority.dpop.replayCacheSize, perClient: config.authority.dpop.replayCachePerClient },
        revocations: hold === undefined ? undefined : ledgerRevocations(hold.revocations),
        onRevocationChange: () => channels().forEach((channel) => notify(channel, 'revocations')),
      })
    : undefined;

  const gatherMetrics = async () => {
    const texts = new Map<string, string>();
    await Promise.all([...slots.entries()].map(async ([slot, s]) => {
      if (s.link === undefined || !s.listening) return;
      try {
        const { body } = (await s.link.call('scrape')) as { body: string };
        texts.set(String(slot), body);
      } catch {
        // A worker that is being replaced has nothing to say; the others still answer.
      }
    }));
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: mergeExpositions(new Map([...texts].sort(([a], [b]) => Number(a) - Number(b)))) };
  };

  let stopping = false;
  let startup: ((code: number) => void) | undefined;
  const fork = (slot: number) => {
    const worker = cluster.fork({ [SLOT_ENV]: String(slot) });
    const state = slots.get(slot)!;
    const welcome: Welcome = { slot, nonceSecret, revocations: hold === undefined ? 'ledger' : 'primary' };
    state.worker = worker;
    state.startedAt = Date.now();
    state.listening = false;
    state.link = openLink(worker as unknown as Channel, { ...host?.handlers, hello: () => welcome, metrics: gatherMetrics }, { timeoutMs: LINK_TIMEOUT_MS });
    // Serving once it says so: it listens and has its SIGTERM handler (cluster's own 'listening'
    // comes earlier, when a SIGTERM would still kill it mid-start).
    const unlisten = state.link.onNotice((kind) => {
      if (kind !== 'serving') return;
      unlisten();
      state.listening = true;
      if (state.quickDeaths > 0) logger.info({ worker: slot, pid: worker.process.pid }, 'worker replaced and serving');
      if (startup !== undefined) forkRest();
      if ([...slots.values()].every((s) => s.listening)) startup?.(0);
    });
    worker.once('exit', (code, signal) => {
      state.link?.close();
      state.worker = undefined;
      state.link = undefined;
      const wasListening = state.listening;
      state.listening = false;
      if (stopping) return;
      if (startup !== undefined && !wasListening) {
        // A worker that cannot start (bad key file, port in use) would fail the same way again.
        logger.error({ worker: slot, code, signal }, 'a worker could not start; stopping');
        startup(typeof code === 'number' && code !== 0 ? code : 1);
        return;
      }
      const lived = Date.now() - state.startedAt;
      state.quickDeaths = lived < STABLE_MS ? state.quickDeaths + 1 : 0;
      const wait = state.quickDeaths === 0 ? 0 : Math.min(FIRST_BACKOFF_MS * 2 ** (state.quickDeaths - 1), MAX_BACKOFF_MS);
      logger.error({ worker: slot, pid: worker.process.pid, code, signal, restartInMs: wait }, 'worker died; replacing it');
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, wait).unref();
    });
  };

  const stopAll = async (signal: NodeJS.Signals): Promise<number> => {
    stopping = true;
    const running = [...slots.values()].flatMap((s) => (s.worker === undefined ? [] : [{ worker: s.worker, serving: s.listening }]));
    const clean = await Promise.all(running.map(({ worker, serving }) => new Promise<boolean>((done) => {
      if (worker.isDead()) {
        done(worker.process.exitCode === 0);
        return;
      }
      // One still starting has nothing in flight: ended by our signal, it stopped cleanly.
      worker.once('exit', (code, killedBy) => done(code === 0 || (!serving && killedBy === signal)));
      worker.process.kill(signal);
    })));
    await host?.close();
    await hold?.release();
    return clean.every(Boolean) ? 0 : 1;
  };

  // Signals are ours from the first moment: a SIGTERM while workers still start drains them too.
  let stopped!: (code: number) => void;
  const finished = new Promise<number>((done) => (stopped = done));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal, workers: channels().length }, 'shutting down: every worker finishes its in-flight exchanges');
    // Each worker has its own shutdownTimeoutSeconds; this bound only catches one that hangs.
    const deadline = setTimeout(() => {
      logger.error('a worker did not stop in time; killing it');
      for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
    }, (config.server.shutdownTimeoutSeconds + 5) * 1000);
    deadline.unref();
    stopAll('SIGTERM').then((code) => {
      clearTimeout(deadline);
      logger.info({ code }, 'stopped');
      stopped(code);
    }, (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      stopped(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const reload = (why: string) => {
    try {
      loadConfig({ path: options.configPath });
    } catch (error) {
      const message = error instanceof ConfigError ? error.problems.join('; ') : (error as Error).message;
      logger.error({ why, problems: message }, 'configuration reload refused; the previous configuration stays in force in every worker');
      return;
    }
    logger.info({ why, workers: channels().length }, 'reloading every worker');
    for (const channel of channels()) notify(channel, 'reload');
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const watched = options.configPath ?? configPathFromEnv();
  if (options.watch && watched !== undefined) {
    // The directory, not the file: editors and ConfigMaps replace the file (see src/server.ts).
    let timer: NodeJS.Timeout | undefined;
    const name = basename(watched);
    watch(dirname(resolve(watched)), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('file changed'), 200);
    }).unref();
  }

  // Workers run this same program (cluster re-runs the entry point), told their slot by SLOT_ENV.
  const started = new Promise<number>((done) => (startup = done));
  for (let slot = 1; slot <= count; slot++) slots.set(slot, { worker: undefined, link: undefined, startedAt: 0, quickDeaths: 0, listening: false });
  // The first worker starts alone and the others once it serves: workers starting together share
  // the cores, so on a small machine the first answer came later (docs/performance.md, cold
  // start); on a large one this only delays the rest by one worker's start.
  const forkRest = () => {
    // Slots never started only: a worker that died meanwhile is its replacement timer's to fork.
    for (const [slot, s] of slots) if (s.startedAt === 0 && !stopping) fork(slot);
  };
  fork(1);
  const first = await Promise.race([started, finished.then((code) => ({ stoppedWith: code }))]);
  startup = undefined;
  if (typeof first === 'object') return first.stoppedWith;
  if (first !== 0) {
    await stopAll('SIGTERM');
    return first;
  }
  logger.info({ workers: count, pid: process.pid, store: config.store.driver }, 'registry-token serving with workers');
  return finished;
}
