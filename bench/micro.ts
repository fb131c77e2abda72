// `npm run bench -- --micro`: the small measurements behind the hot-path changes of
// docs/performance.md, each the CPU of one operation in this process (or two, for IPC), repeated
// in a tight loop. They explain the end-to-end rows; they are not targets.
//   - ECDSA P-256 verify and sign: a bare KeyObject with DER signatures, against the
//     `{ key, dsaEncoding: 'ieee-p1363' }` form node:crypto offers for JOSE signatures
//   - RSA-2048 sign, next to `openssl speed`
//   - one durable ledger write (O_DSYNC) to the work directory's disk: wall and CPU
//   - a worker's question to the primary over the IPC channel: one message per question, and
//     through src/workers/link.ts, which batches them per turn of the event loop
//   - the first and the second String.prototype.localeCompare
//   - constructing a refusal 40 frames deep (as in Fastify's hooks): a ServiceError, which keeps
//     no stack, against an Error that does
import { fork } from 'node:child_process';
import { generateKeyPairSync, sign, verify, createPrivateKey } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AuthenticationError } from '../src/domain/errors.ts';
import { openLink, type Channel } from '../src/workers/link.ts';

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

/** Either end of the IPC channel as src/workers/link.ts sees it. */
function channelOf(end: { send(message: unknown): boolean; on(event: 'message', listener: (message: unknown) => void): unknown; off(event: 'message', listener: (message: unknown) => void): unknown; readonly connected: boolean }): Channel {
  return {
    send: (message) => end.send(message),
    on: (event, listener) => end.on(event, listener),
    off: (event, listener) => end.off(event, listener),
    isConnected: () => end.connected,
  };
}

const QUESTION = ['abcdefghijklmnopqrstuvwxyz0123456789abcdefghijk:0123456789abcdef', 90_000, 'client-1'];

/**
 * The child (the primary's side): answers the link's questions (src/workers/link.ts, batched per
 * turn), and raw `{ rt: 'raw' }` messages one by one, the baseline of one message per question.
 */
function ipcChild(): void {
  openLink(channelOf(process as unknown as Parameters<typeof channelOf>[0]), { 'replay.remember': () => true, cpu: () => process.cpuUsage() }, { timeoutMs: 10_000 });
  process.on('message', (message: { rt?: string; id?: number }) => {
    if (message.rt === 'raw') process.send!({ rt: 'raw', id: message.id, value: true });
  });
}

async function ipc(batched: boolean): Promise<{ worker: number; primary: number }> {
  const child = fork(new URL(import.meta.url).pathname, ['--ipc-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const link = openLink(channelOf(child as unknown as Parameters<typeof channelOf>[0]), {}, { timeoutMs: 10_000 });
  const pending = new Map<number, () => void>();
  child.on('message', (message: { rt?: string; id?: number }) => {
    if (message.rt !== 'raw') return;
    pending.get(message.id!)?.();
    pending.delete(message.id!);
  });
  let next = 0;
  const raw = () =>
    new Promise<void>((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      child.send({ rt: 'raw', id, op: 'replay.remember', args: QUESTION });
    });
  const call = batched ? () => link.call('replay.remember', ...QUESTION) : raw;
  const count = 20_000;
  await link.call('cpu'); // the child is up and has loaded its modules
  const childBefore = (await link.call('cpu')) as NodeJS.CpuUsage;
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
  const childAfter = (await link.call('cpu')) as NodeJS.CpuUsage;
  link.close();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  await exited;
  const childUsed = childAfter.user + childAfter.system - childBefore.user - childBefore.system;
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

/** Runs `operation` under `depth` more frames: a refusal is made deep inside the request's hooks. */
function atDepth(depth: number, operation: () => void): void {
  if (depth === 0) operation();
  else atDepth(depth - 1, operation);
}

function refusals(): string[] {
  let kept: unknown;
  const refusal = () => atDepth(40, () => (kept = new AuthenticationError('invalid_token', 'the access token has expired')));
  const withStack = () => atDepth(40, () => (kept = new Error('the access token has expired')));
  const empty = () => atDepth(40, () => (kept = undefined));
  const base = cpuMicros(empty, 100_000);
  const rows = [
    `| constructing a refusal 40 frames deep: ServiceError (no stack) | ${round(cpuMicros(refusal, 100_000) - base)} |`,
    `| the same with a stack trace (an Error) | ${round(cpuMicros(withStack, 100_000) - base)} |`,
  ];
  void kept;
  return rows;
}

export async function runMicroBench(workDir: string): Promise<number> {
  const rows = ['| operation | µs |', '|---|---:|', ...collation(), ...crypto(), ...refusals(), ...durableWrite(workDir)];
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
