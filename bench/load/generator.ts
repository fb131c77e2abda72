// The load generator as its own process (forked by bench/token.ts), so that its CPU is its own
// line in the report and not mixed with the bench's bookkeeping or the Authority. It is told
// what to run over IPC, makes the DPoP proofs, says `ready`, and starts on `go`: the parent
// reads both processes' CPU counters between the two.
//
//   closed: autocannon, `connections` connections, `amount` requests, each with a pre-made proof
//   open:   bench/load/open-loop.ts at `rate` req/s for `seconds`; proofs pre-made, or made when
//           due (`premake: false`, for soaks too long to pre-make: ~40 µs of CPU each, counted)
import autocannon from 'autocannon';
import { proofMaker, type LoadClient, type Request } from './proofs.ts';
import { quantileOf, runOpenLoop } from './open-loop.ts';

export type GeneratorCommand =
  | { op: 'closed'; url: string; htu: string; clients: LoadClient[]; connections: number; amount: number }
  | { op: 'open'; url: string; htu: string; clients: LoadClient[]; rate: number; seconds: number; connections: number; premake: boolean };

export interface LoadSummary {
  readonly responses: number;
  readonly seconds: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number };
  /** Open loop only: how late the generator sent (ms), and the most requests it had open. */
  readonly sendLagP99Ms?: number;
  readonly sendLagMaxMs?: number;
  readonly maxInFlight?: number;
}

const MAX_RUN_MS = 30_000;

function premade(clients: readonly LoadClient[], htu: string, count: number): Request[] {
  const maker = proofMaker(clients, htu);
  return Array.from({ length: count }, () => maker.next());
}

function closed(command: Extract<GeneratorCommand, { op: 'closed' }>, go: Promise<void>): Promise<LoadSummary> {
  // autocannon builds a connection's next request ahead of time: a few spare proofs, so it never replays one.
  const items = premade(command.clients, command.htu, command.amount + 2 * command.connections + 8);
  let next = 0;
  let responses = 0;
  let last = 0;
  const statuses: Record<string, number> = {};
  process.send!({ op: 'ready' });
  return go.then(
    () =>
      new Promise((resolve, reject) => {
        const started = performance.now();
        const instance = autocannon(
          {
            url: command.url,
            connections: command.connections,
            amount: command.amount,
            timeout: 10,
            requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, ...items[Math.min(next++, items.length - 1)]! }) }],
          },
          (error, result) => {
            clearTimeout(guard);
            if (error) return reject(error);
            resolve({
              responses,
              // autocannon's own duration ends at its next 1 s tick: measure first request to last answer.
              seconds: (last - started) / 1000,
              statuses,
              errors: result.errors + result.timeouts,
              latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, p99_9: result.latency.p99_9, max: result.latency.max, mean: result.latency.mean },
            });
          },
        );
        instance.on('response', (_client: unknown, statusCode: number) => {
          responses++;
          statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
          last = performance.now();
        });
        const guard = setTimeout(() => instance.stop(), MAX_RUN_MS);
      }),
  );
}

async function open(command: Extract<GeneratorCommand, { op: 'open' }>, go: Promise<void>): Promise<LoadSummary> {
  let next: () => Request;
  if (command.premake) {
    const items = premade(command.clients, command.htu, Math.round(command.rate * command.seconds) + 8);
    let i = 0;
    next = () => items[i++]!;
  } else {
    const maker = proofMaker(command.clients, command.htu);
    next = () => maker.next();
  }
  process.send!({ op: 'ready' });
  await go;
  const result = await runOpenLoop({ url: command.url, rate: command.rate, seconds: command.seconds, connections: command.connections, next });
  const l = result.latenciesMs;
  let sum = 0;
  for (const v of l) sum += v;
  return {
    responses: l.length,
    seconds: result.seconds,
    statuses: result.statuses,
    errors: result.errors,
    latencyMs: { p50: quantileOf(l, 0.5), p90: quantileOf(l, 0.9), p99: quantileOf(l, 0.99), p99_9: quantileOf(l, 0.999), max: l.at(-1) ?? NaN, mean: sum / Math.max(l.length, 1) },
    sendLagP99Ms: result.sendLagP99Ms,
    sendLagMaxMs: result.sendLagMaxMs,
    maxInFlight: result.maxInFlight,
  };
}

let release: (() => void) | undefined;
process.on('message', (message: GeneratorCommand | { op: 'go' } | { op: 'exit' }) => {
  if (message.op === 'go') return release?.();
  if (message.op === 'exit') return process.exit(0);
  const go = new Promise<void>((resolve) => (release = resolve));
  const run = message.op === 'closed' ? closed(message, go) : open(message, go);
  run.then(
    (summary) => process.send!({ op: 'done', summary }),
    (error: unknown) => process.send!({ op: 'failed', error: String((error as Error)?.stack ?? error) }),
  );
});
