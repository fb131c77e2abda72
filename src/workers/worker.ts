// A worker's end: it asks the primary who it is (slot, the run's nonce secret, where revocations
// live), then src/server.ts builds the service as a single process would, with what this file
// hands it: its own ledger chain, the primary's store, a /metrics that answers for every worker,
// and the primary's reload notices.
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { writerName } from '../record/index.ts';
import type { ServiceDeps } from '../service.ts';
import { createTelemetry, type Telemetry } from '../telemetry/metrics.ts';
import { notify, openLink, type Channel } from './link.ts';
import { WORKER_HEADER, type Welcome } from './roles.ts';

export interface WorkerSide {
  readonly slot: number;
  /** The configuration as this worker runs it: the run's shared nonce secret when none is configured. */
  configure(config: Config): Config;
  /** What createService needs besides the configuration. */
  serviceDeps(config: Config): Pick<ServiceDeps, 'telemetry' | 'worker'>;
  /** Calls `reload` on each reload notice from the primary. */
  onReload(reload: () => void): void;
  /** Tells the primary this worker listens and drains on SIGTERM. */
  serving(): void;
  /** Names this worker in every answer (X-Worker), so an operator can tell which one answered. */
  tag(server: Server): void;
}

export async function joinPrimary(): Promise<WorkerSide> {
  let own: Telemetry | undefined;
  const channel: Channel = {
    send: (message) => process.send!(message),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
    isConnected: () => process.connected,
  };
  const link = openLink(channel, {
    scrape: async () => {
      if (own === undefined) throw new Error('not serving yet');
      return own.scrape();
    },
  }, { timeoutMs: 2_000 });
  const welcome = (await link.call('hello')) as Welcome;
  return {
    slot: welcome.slot,
    configure(config) {
      if (config.authority.dpop.nonceSecret !== undefined) return config;
      return { ...config, authority: { ...config.authority, dpop: { ...config.authority.dpop, nonceSecret: welcome.nonceSecret } } };
    },
    serviceDeps(config) {
      own = createTelemetry();
      const telemetry: Telemetry = {
        metrics: own.metrics,
        scrape: async () => (await link.call('metrics')) as { contentType: string; body: string },
        shutdown: () => own!.shutdown(),
      };
      return {
        telemetry,
        worker: {
          ledgerWriter: writerName(welcome.slot),
          primary: config.store.driver === 'memory' ? { link, revocations: welcome.revocations } : undefined,
        },
      };
    },
    onReload(reload) {
      link.onNotice((kind) => {
        if (kind === 'reload') reload();
      });
    },
    serving() {
      notify(channel, 'serving');
    },
    tag(server) {
      const slot = String(welcome.slot);
      server.prependListener('request', (_request, response) => response.setHeader(WORKER_HEADER, slot));
    },
  };
}
