// All cores of one host: `server.workers` processes on one port (node:cluster). The server asks
// only this: am I the primary of several, or one of its workers? primary.ts forks and supervises,
// worker.ts is a worker's end; what they share travels over link.ts.
import cluster from 'node:cluster';
import type { Config } from '../config/schema.ts';

export type Role = 'single' | 'primary' | 'worker';

export function roleOf(config: Config): Role {
  if (cluster.isWorker) return 'worker';
  return config.server.workers > 1 ? 'primary' : 'single';
}

// primary.ts and worker.ts are imported by the role that runs them (src/server.ts).
export type { PrimaryOptions } from './primary.ts';
export type { WorkerSide } from './worker.ts';
