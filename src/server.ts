// Runs the service as a process: listen, reload on SIGHUP (or --watch), and shut down
// gracefully on SIGTERM/SIGINT: stop accepting, finish in-flight exchanges, flush the ledger.
// With server.workers > 1 this process is the primary (src/workers/primary.ts) and each worker
// runs the rest of this file.
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { configPathFromEnv, loadConfig } from './config/loader.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './domain/errors.ts';
import type { Service } from './service.ts';
import { createLogger } from './telemetry/logger.ts';
import { roleOf } from './workers/index.ts';

export interface ServeOptions {
  configPath: string | undefined;
  watch: boolean;
}

/** Resolves with the process exit code once the service has stopped. */
export async function serve(options: ServeOptions): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ path: options.configPath });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`registry-token: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const role = roleOf(config);
  const base = createLogger({ level: config.telemetry.logLevel });
  // Each role imports only what it runs: the primary serves no request, and a cold start waits
  // for it before any worker starts loading (docs/performance.md).
  if (role === 'primary') {
    const { runPrimary } = await import('./workers/primary.ts');
    return runPrimary({ config, configPath: options.configPath, watch: options.watch, logger: base.child({ role: 'primary' }) });
  }
  // A worker of several: the primary says which, and what the workers share (src/workers/).
  const worker = role === 'worker' ? await (await import('./workers/worker.ts')).joinPrimary() : undefined;
  const [{ createService, localUrl }, { default: Fastify }] = await Promise.all([import('./service.ts'), import('fastify')]);
  const logger = worker === undefined ? base : base.child({ worker: worker.slot });
  if (worker !== undefined) config = worker.configure(config);
  let service: Service;
  try {
    service = await createService(config, { logger, ...worker?.serviceDeps(config) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`registry-token: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`registry-token: cannot start: ${message}\n`);
    return 1;
  }

  const metricsPort = config.telemetry.metricsPort;
  const metricsApp = metricsPort === undefined ? undefined : Fastify();
  metricsApp?.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await service.telemetry.scrape();
    return reply.type(contentType).send(body);
  });

  if (worker !== undefined) worker.tag(service.app.server);
  try {
    await service.app.listen({ host: config.server.host, port: config.server.port });
    if (metricsApp !== undefined) await metricsApp.listen({ host: config.server.host, port: metricsPort! });
  } catch (error) {
    process.stderr.write(`registry-token: cannot listen on ${config.server.host}:${config.server.port}: ${(error as Error).message}\n`);
    await service.close().catch(() => {});
    return 1;
  }
  const address = service.app.server.address();
  const port = address !== null && typeof address === 'object' ? address.port : config.server.port;
  logger.info({ url: localUrl(config, port), publicUrl: config.server.publicUrl, ledger: service.ledger.name }, 'registry-token serving');
  if (config.server.publicUrl === undefined) {
    logger.warn('server.publicUrl is not set: DPoP proofs are checked against this listener\'s own URL');
  }

  const reload = (why: string) => {
    try {
      const loaded = loadConfig({ path: options.configPath });
      const next = worker === undefined ? loaded : worker.configure(loaded);
      const { keys } = service.reload(next);
      logger.info({ why, activeKeyId: keys.activeAfter }, 'configuration reloaded: plans, default plan, revoked licences and signing keys swapped');
    } catch (error) {
      const message = error instanceof ConfigError ? error.problems.join('; ') : (error as Error).message;
      logger.error({ why, problems: message }, 'configuration reload refused; the previous configuration stays in force');
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  worker?.onReload(() => reload('reload from the primary'));
  const watched = options.configPath ?? configPathFromEnv();
  // With workers, the primary watches and tells each.
  if (options.watch && watched !== undefined && worker === undefined) {
    // Watch the directory, not the file: editors, `sed -i` and Kubernetes ConfigMaps replace
    // the file (a new inode), after which a watch on the file itself hears nothing more.
    let timer: NodeJS.Timeout | undefined;
    const name = basename(watched);
    watch(dirname(resolve(watched)), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('file changed'), 200);
    }).unref();
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: finishing in-flight exchanges');
      const deadline = setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        resolve(1);
      }, config.server.shutdownTimeoutSeconds * 1000);
      deadline.unref();
      Promise.all([service.close(), metricsApp?.close()])
        .then(() => {
          clearTimeout(deadline);
          logger.info('stopped');
          resolve(0);
        })
        .catch((error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Only now can a SIGTERM drain this worker: the primary counts it as serving from here.
    worker?.serving();
  });
}
