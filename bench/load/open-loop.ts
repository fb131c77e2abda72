// Open-loop load: request i is due at start + i / rate, whether or not earlier answers came
// back, and its latency is measured from that due time, not from when it was actually sent.
// A closed-loop generator (autocannon) waits for an answer before the next request on a
// connection, so when the service stalls it stops sending and the stall is counted once
// instead of for every arrival it held up ("coordinated omission"); here a stall shows in
// every request due during it, as it would for independent clients.
//
// Hand-written because no package in reach does this: loadtest's requestsPerSecond mode is
// open-loop but times each request from its actual send (so a late generator hides queueing)
// and keeps its connections with agentkeepalive 2.x; artillery's arrival rate opens a new
// virtual user per arrival and is a large dependency for ~100 lines. node:http with a
// keep-alive agent carries the requests; answers are read in full.
import { Agent, request as httpRequest } from 'node:http';
import type { Request } from './proofs.ts';

export interface OpenLoopOptions {
  readonly url: string;
  /** Requests per second. */
  readonly rate: number;
  readonly seconds: number;
  /** Upper bound on open connections; arrivals beyond it wait for a free one (and it shows in their latency). */
  readonly connections: number;
  /** The request due next: pre-made, or made when due. */
  readonly next: () => Request;
  readonly timeoutMs?: number;
}

export interface OpenLoopResult {
  readonly sent: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  /** From due time to the end of the answer, ms, sorted ascending. */
  readonly latenciesMs: Float64Array;
  /** How late requests left the generator (due -> handed to node:http), ms: the generator's own health. */
  readonly sendLagP99Ms: number;
  readonly sendLagMaxMs: number;
  readonly maxInFlight: number;
  /** First due time to last answer. */
  readonly seconds: number;
}

export function quantileOf(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const target = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'fifo' });
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const intervalMs = 1000 / options.rate;
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let errors = 0;
  let sent = 0;
  let done = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let lastAnswer = 0;
  const start = performance.now() + 20;

  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy();
      const sortedLags = lags.slice(0, sent).sort();
      resolve({
        sent,
        statuses,
        errors,
        latenciesMs: latencies.slice(0, done).sort(),
        sendLagP99Ms: quantileOf(sortedLags, 0.99),
        sendLagMaxMs: sortedLags.at(-1) ?? 0,
        maxInFlight,
        seconds: (lastAnswer - start) / 1000,
      });
    };
    const answered = (due: number, status: string) => {
      const now = performance.now();
      latencies[done++] = now - due;
      lastAnswer = now;
      statuses[status] = (statuses[status] ?? 0) + 1;
      inFlight--;
      if (done === total) finish();
    };
    const send = (index: number, due: number) => {
      const { path, headers } = options.next();
      lags[index] = performance.now() - due;
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      let settled = false;
      const settle = (status: string) => {
        if (settled) return;
        settled = true;
        if (status === 'error') errors++;
        answered(due, status);
      };
      const req = httpRequest({ host: target.hostname, port: target.port, path, headers, agent, timeout: options.timeoutMs ?? 10_000 }, (res) => {
        res.on('data', () => {});
        res.on('end', () => settle(String(res.statusCode)));
        res.on('error', () => settle('error'));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => settle('error'));
      req.end();
    };
    // A 1 ms tick sends everything that has come due; setTimeout cannot wake more precisely,
    // and the send lag reported says how far behind it ran.
    const tick = () => {
      const now = performance.now();
      while (sent < total) {
        const due = start + sent * intervalMs;
        if (due > now) break;
        send(sent++, due);
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * intervalMs - performance.now())));
    };
    setTimeout(tick, 20);
  });
}
