// What the bench reads about processes and the machine, from /proc: CPU time of a process and of
// its main thread, scheduler waits, RSS, and machine-wide busy time. Linux only, like the bench.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/** VmHWM (peak RSS) and VmRSS of a process, in MiB. */
export function memoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
}

/** user+system CPU seconds a process (or, with `tid`, one of its threads) has used so far. */
export function cpuSecondsOf(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** A thread's scheduler statistics: seconds on a CPU, and seconds runnable but waiting for one. */
export function schedOf(pid: number, tid: number): { run: number; wait: number } {
  const [run = 0, wait = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { run: run / 1e9, wait: wait / 1e9 };
}

/** Machine-wide busy and steal CPU seconds so far (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK };
}

/** A process and its children (with server.workers, the primary and its workers). */
export function treeOf(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone
  }
  return [pid, ...children];
}

/** RSS of a process and its children, summed (MiB); peak is the sum of each one's peak. */
export function treeMemoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  let peakMiB = 0;
  let rssMiB = 0;
  for (const member of treeOf(pid)) {
    try {
      const m = memoryOf(member);
      peakMiB += m.peakMiB;
      rssMiB += m.rssMiB;
    } catch {
      // exited between the listing and the read
    }
  }
  return { peakMiB, rssMiB };
}

/** Counters of the service (whole process and main thread), the generator and the machine, read together. */
export interface Snapshot {
  readonly at: number;
  readonly service: number;
  readonly main: number;
  readonly mainWait: number;
  /** The process the bench started alone: with workers, the primary (the store's host). */
  readonly root: number;
  readonly generator: number;
  readonly self: number;
  readonly machine: number;
  readonly steal: number;
}

/**
 * With workers, "service" is the primary and every worker, "main" and "mainWait" the sum of
 * their main threads (each a JavaScript event loop).
 */
export function snapshot(servicePid: number, generatorPid: number): Snapshot {
  let service = 0;
  let main = 0;
  let mainWait = 0;
  let root = 0;
  for (const pid of treeOf(servicePid)) {
    try {
      const seconds = cpuSecondsOf(pid);
      service += seconds;
      if (pid === servicePid) root = seconds;
      main += cpuSecondsOf(pid, pid);
      mainWait += schedOf(pid, pid).wait;
    } catch {
      // exited between the listing and the read
    }
  }
  const self = process.cpuUsage();
  const machine = machineCpu();
  return {
    at: performance.now(),
    service,
    main,
    mainWait,
    root,
    generator: cpuSecondsOf(generatorPid),
    self: (self.user + self.system) / 1e6,
    machine: machine.busy,
    steal: machine.steal,
  };
}

export interface CpuWindow {
  /** Service CPU seconds (all threads), main thread's, and its wait for a core. */
  readonly service: number;
  readonly main: number;
  readonly mainWait: number;
  /** CPU seconds of the process the bench started alone (with workers, the primary). */
  readonly root: number;
  readonly generator: number;
  /** Everything else on the machine, this bench process excluded. */
  readonly other: number;
  readonly steal: number;
  readonly wall: number;
}

export function between(a: Snapshot, b: Snapshot): CpuWindow {
  const service = b.service - a.service;
  const generator = b.generator - a.generator;
  const self = b.self - a.self;
  return {
    service,
    main: b.main - a.main,
    mainWait: b.mainWait - a.mainWait,
    root: b.root - a.root,
    generator,
    other: Math.max(0, b.machine - a.machine - service - generator - self),
    steal: b.steal - a.steal,
    wall: (b.at - a.at) / 1000,
  };
}

/**
 * The machine is shared (2 cores): wait, up to `maxMs`, for a second in which other processes
 * use less than `limitPercent` CPU, so a run does not start in the middle of someone's build.
 */
export async function waitForQuiet(log: (message: string) => void, limitPercent = 20, maxMs = 20_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const before = machineCpu();
    const self = process.cpuUsage();
    await sleep(1000);
    const used = process.cpuUsage(self);
    const other = Math.max(0, machineCpu().busy - before.busy - (used.user + used.system) / 1e6) * 100;
    if (other < limitPercent || Date.now() > deadline) {
      if (other >= limitPercent) log(`machine still busy (${round(other)} % CPU used by other processes); running anyway`);
      return other;
    }
    log(`waiting for a quieter machine (${round(other)} % CPU used by other processes)`);
  }
}
