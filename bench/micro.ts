// `npm run bench -- --micro`: the small measurements behind the hot-path changes of
// docs/performance.md, each the CPU of one operation in this process (or two, for IPC), repeated
// in a tight loop. They explain the end-to-end rows; they are not targets.
//   - ECDSA P-256 verify and sign: a bare KeyObject with DER signatures, against the
//     `{ key, dsaEncoding: 'ieee-p1363' }` form node:crypto offers for JOSE signatures
//   - RSA-2048 sign, next to `openssl speed`
//   - one durable ledger write (O_DSYNC) to the work directory's disk: wall and CPU
//   - a worker's question to the primary over the cluster IPC channel: one message per
//     question, and batched per turn of the event loop (src/workers/link.ts)
//   - the first and the second String.prototype.localeCompare
import { fork } from 'node:child_process';
import { generateKeyPairSync, sign, verify, createPrivateKey } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

function cpuMicros(operation: () => void, count: number): number {
  operation();
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) operation();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const round = (value: number) => Math.round(value * 10) / 10;

function crypto(): string[] {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('x'.repeat(400));
  const der = sign('sha256', data, privateKey);
  const p1363 = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const wrapped = { key: publicKey, dsaEncoding: 'ieee-p1363' as const };
  const rsa = createPrivateKey(readFileSync(join(ROOT, 'etc/registry-signing-sample.pem')));
  return [
    `| P-256 verify, KeyObject + DER signature | ${round(cpuMicros(() => verify('sha256', data, publicKey, der), 10_000))} |`,
    `| P-256 verify, { key, dsaEncoding: 'ieee-p1363' } | ${round(cpuMicros(() => verify('sha256', data, wrapped, p1363), 10_000))} |`,
    `| P-256 sign, KeyObject (DER) | ${round(cpuMicros(() => sign('sha256', data, privateKey), 10_000))} |`,
    `| P-256 sign, { key, dsaEncoding: 'ieee-p1363' } | ${round(cpuMicros(() => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }), 10_000))} |`,
    `| RSA-2048 sign (the sample key), KeyObject | ${round(cpuMicros(() => sign('sha256', data, rsa), 2_000))} |`,
  ];
}

function durableWrite(dir: string): string[] {
  const path = join(dir, `micro-dsync-${process.pid}.dat`);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC, 0o600);
  const group = Buffer.alloc(800, 'x');
  let position = 0;
  const count = 500;
  const before = process.cpuUsage();
  const started = performance.now();
  try {
    for (let i = 0; i < count; i++) position += writeSync(fd, group, 0, group.length, position);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const used = process.cpuUsage(before);
  return [
    `| one O_DSYNC write of 800 bytes in ${dir}: wall | ${round(((performance.now() - started) * 1000) / count)} |`,
    `| the same: CPU (user + system) | ${round((used.user + used.system) / count)} |`,
  ];
}

/** Items posted in one turn of the event loop, sent as one `{ rt: 'batch' }` message (as src/workers/link.ts does). */
function perTurn(send: (message: unknown) => void): (item: unknown) => void {
  let outbox: unknown[] = [];
  let scheduled = false;
  return (item) => {
    outbox.push(item);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const items = outbox;
      outbox = [];
      send({ rt: 'batch', items });
    });
  };
}

/** The child side of the IPC measurement: answers each question, batched or not as asked. */
function ipcChild(): void {
  const post = perTurn((message) => process.send!(message));
  process.on('message', (message: { rt: string; id?: number; items?: { id: number }[] }) => {
    if (message.rt === 'exit') {
      process.send!({ rt: 'cpu', cpu: process.cpuUsage() }, () => process.exit(0));
      return;
    }
    if (message.rt === 'req') process.send!({ rt: 'res', id: message.id, value: true });
    if (message.rt === 'batch') for (const item of message.items!) post({ rt: 'res', id: item.id, value: true });
  });
}

async function ipc(batched: boolean): Promise<{ worker: number; primary: number }> {
  const child = fork(new URL(import.meta.url).pathname, ['--ipc-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, () => void>();
  const post = perTurn((message) => child.send(message as object));
  let childCpu: NodeJS.CpuUsage | undefined;
  child.on('message', (message: { rt: string; id?: number; items?: { id: number }[]; cpu?: NodeJS.CpuUsage }) => {
    if (message.rt === 'cpu') childCpu = message.cpu;
    for (const item of message.rt === 'batch' ? message.items! : message.rt === 'res' ? [{ id: message.id! }] : []) {
      pending.get(item.id)?.();
      pending.delete(item.id);
    }
  });
  let next = 0;
  const call = () =>
    new Promise<void>((resolve) => {
      const request = { rt: 'req', id: ++next, op: 'replay.remember', args: ['abcdefghijklmnopqrstuvwxyz0123456789abcdefghijk:0123456789abcdef', Date.now() + 90_000, 'client-1'] };
      pending.set(request.id, resolve);
      if (batched) post(request);
      else child.send(request);
    });
  const count = 20_000;
  const before = process.cpuUsage();
  let sent = 0;
  // 32 questions in flight, as 32 exchanges at once would ask.
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (sent < count) {
      sent++;
      await call();
    }
  }));
  const used = process.cpuUsage(before);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ rt: 'exit' });
  await exited;
  const childUsed = childCpu === undefined ? 0 : childCpu.user + childCpu.system;
  return { worker: (used.user + used.system) / count, primary: childUsed / count };
}

function collation(): string[] {
  let started = performance.now();
  'a'.localeCompare('b');
  const first = (performance.now() - started) * 1000;
  started = performance.now();
  'c'.localeCompare('d');
  const second = (performance.now() - started) * 1000;
  return [`| first String.prototype.localeCompare in a process (wall) | ${round(first)} |`, `| the second (wall) | ${round(second)} |`];
}

export async function runMicroBench(workDir: string): Promise<number> {
  const rows = ['| operation | µs |', '|---|---:|', ...collation(), ...crypto(), ...durableWrite(workDir)];
  for (const batched of [false, true]) {
    const { worker, primary } = await ipc(batched);
    const how = batched ? 'batched per turn' : 'one message each';
    rows.push(`| a question to the primary over IPC, ${how}, 32 in flight: CPU of the asking process | ${round(worker)} |`);
    rows.push(`| the same: CPU of the answering process | ${round(primary)} |`);
  }
  process.stdout.write(`\n## registry-token micro-measurements (node ${process.version}, ${new Date().toISOString()})\n\n${rows.join('\n')}\n`);
  return 0;
}

if (process.argv.includes('--ipc-child')) ipcChild();
