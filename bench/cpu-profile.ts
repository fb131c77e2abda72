// Summarises a V8 .cpuprofile (written by `node --cpu-prof`): top functions by self time,
// self time by package / source area, and inclusive time of the service's own functions.
//   node bench/cpu-profile.ts FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly percent: number;
}

export interface ProfileSummary {
  /** Sampled wall time, ms. */
  readonly totalMs: number;
  /** Time the main thread was not idle, ms. */
  readonly busyMs: number;
  readonly topSelf: ProfileRow[];
  readonly byArea: ProfileRow[];
  readonly topInclusiveOwn: ProfileRow[];
}

/** `node_modules/jose/...` -> `jose`, `node:internal/crypto/sig` -> `node:internal/crypto`, `/src/record/x.ts` -> `src/record`. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? url);
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const src = url.lastIndexOf('/src/');
  if (src >= 0) {
    const parts = url.slice(src + 1).split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  return url;
}

function shortWhere(frame: CallFrame): string {
  if (frame.url === '') return '';
  const modules = frame.url.lastIndexOf('/node_modules/');
  const src = frame.url.lastIndexOf('/src/');
  const path = modules >= 0 ? frame.url.slice(modules + '/node_modules/'.length) : src >= 0 ? frame.url.slice(src + 1) : frame.url.replace(/^file:\/\//, '');
  return `${path}:${frame.lineNumber + 1}`;
}

const keyOf = (frame: CallFrame) => `${frame.functionName || '(anonymous)'}\u0000${shortWhere(frame)}`;

export function summariseProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);

  // Self time of a sample = the time until the next sample.
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + delta);
  }
  let total = 0;
  for (const value of self.values()) total += value;
  const idle = [...self].reduce((sum, [id, us]) => (byId.get(id)?.callFrame.functionName === '(idle)' ? sum + us : sum), 0);

  const selfByKey = new Map<string, { frame: CallFrame; us: number }>();
  const selfByArea = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const key = keyOf(frame);
    const entry = selfByKey.get(key) ?? { frame, us: 0 };
    entry.us += us;
    selfByKey.set(key, entry);
    const area = areaOf(frame);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + us);
  }

  // Inclusive time per function, counting a recursive function once per stack.
  const inclusive = new Map<string, { frame: CallFrame; us: number }>();
  const root = profile.nodes[0];
  const subtree = new Map<number, number>();
  const sizeOf = (id: number): number => {
    const cached = subtree.get(id);
    if (cached !== undefined) return cached;
    let sum = self.get(id) ?? 0;
    for (const child of byId.get(id)?.children ?? []) sum += sizeOf(child);
    subtree.set(id, sum);
    return sum;
  };
  const walk = (id: number, onStack: Set<string>) => {
    const node = byId.get(id)!;
    const key = keyOf(node.callFrame);
    const fresh = !onStack.has(key);
    if (fresh) {
      const entry = inclusive.get(key) ?? { frame: node.callFrame, us: 0 };
      entry.us += sizeOf(id);
      inclusive.set(key, entry);
      onStack.add(key);
    }
    for (const child of node.children ?? []) walk(child, onStack);
    if (fresh) onStack.delete(key);
  };
  if (root !== undefined) walk(root.id, new Set());

  const row = (frame: CallFrame, us: number): ProfileRow => ({
    name: frame.functionName || '(anonymous)',
    where: shortWhere(frame),
    ms: us / 1000,
    percent: total === 0 ? 0 : (100 * us) / total,
  });
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    topSelf: [...selfByKey.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => row(e.frame, e.us)),
    byArea: [...selfByArea]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ name: area, where: '', ms: us / 1000, percent: total === 0 ? 0 : (100 * us) / total })),
    topInclusiveOwn: [...inclusive.values()]
      .filter((e) => /(^|\/)src\//.test(e.frame.url) && !e.frame.url.includes('/node_modules/') && e.frame.functionName !== '')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => row(e.frame, e.us)),
  };
}

export function formatSummary(summary: ProfileSummary): string {
  const table = (title: string, rows: ProfileRow[]) =>
    [
      `${title}`,
      '',
      '| function | where | ms | % of samples |',
      '|---|---|---:|---:|',
      ...rows.map((r) => `| \`${r.name}\` | ${r.where === '' ? '' : `\`${r.where}\``} | ${r.ms.toFixed(0)} | ${r.percent.toFixed(1)} |`),
      '',
    ].join('\n');
  return [
    `sampled ${summary.totalMs.toFixed(0)} ms, main thread busy ${summary.busyMs.toFixed(0)} ms (${((100 * summary.busyMs) / Math.max(summary.totalMs, 1)).toFixed(1)} %)`,
    '',
    table('Top functions by self time:', summary.topSelf),
    table('Self time by package / area:', summary.byArea),
    table('Inclusive time of the service\'s own (src/) functions:', summary.topInclusiveOwn),
  ].join('\n');
}

export function summariseFile(path: string, top = 20): ProfileSummary {
  return summariseProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, topArg] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node bench/cpu-profile.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(summariseFile(file, topArg === undefined ? 20 : Number(topArg)))}\n`);
}
