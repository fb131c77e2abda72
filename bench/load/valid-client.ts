// The valid client of `npm run bench -- --abuse` as its own process (forked by bench/abuse.ts):
// a real client does not share an event loop with the flood, and measured from inside the flood
// generator its latencies took in that process's own lag (up to 38 ms at the flood's start).
// It gets its requests (proofs made before the clock starts) over IPC, starts on `go`, sends
// them one at a time with a pause between two, and answers with every latency and status.
// Before `ready` it sends one GET /healthz on a connection it then closes: the first HTTP
// request of a fresh Node process loads and compiles its client code, and measured during the
// flood (both cores busy) that took the first valid request 171–337 ms in the runs where it
// happened (docs/reliability.md). The measured requests still open their own connection.
import { Agent } from 'node:http';
import { send } from '../../test/battery/support/flood.ts';

export interface ValidClientCommand {
  readonly requests: readonly { url: string; headers: Record<string, string> }[];
  readonly localAddress: string;
  readonly pauseMs: number;
}

export interface ValidClientResult {
  readonly latenciesMs: number[];
  readonly statuses: Record<number, number>;
}

async function run(command: ValidClientCommand): Promise<ValidClientResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: command.localAddress });
  const latenciesMs: number[] = [];
  const statuses: Record<number, number> = {};
  try {
    for (const { url, headers } of command.requests) {
      const started = performance.now();
      const answer = await send(url, headers, { localAddress: command.localAddress, agent });
      latenciesMs.push(performance.now() - started);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, command.pauseMs));
    }
  } finally {
    agent.destroy();
  }
  return { latenciesMs, statuses };
}

/** This process's HTTP client code, loaded and run once before the clock starts. */
async function warmUp(command: ValidClientCommand): Promise<void> {
  const agent = new Agent({ keepAlive: false, localAddress: command.localAddress });
  try {
    await send(new URL('/healthz', command.requests[0]!.url).toString(), {}, { localAddress: command.localAddress, agent });
  } finally {
    agent.destroy();
  }
}

let command: ValidClientCommand | undefined;
process.on('message', (message: { op: 'prepare'; command: ValidClientCommand } | { op: 'go' }) => {
  if (message.op === 'prepare') {
    command = message.command;
    warmUp(command).then(
      () => process.send!({ op: 'ready' }),
      (error: unknown) => process.send!({ op: 'failed', error: `warm-up: ${String(error)}` }, () => process.exit(1)),
    );
    return;
  }
  run(command!).then(
    (result) => process.send!({ op: 'done', result }, () => process.exit(0)),
    (error: unknown) => process.send!({ op: 'failed', error: String(error) }, () => process.exit(1)),
  );
});
