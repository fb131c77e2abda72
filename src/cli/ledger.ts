import { loadConfig } from '../config/loader.ts';
import type { VerifyReport } from '../record/verify.ts';
import { CONFIG_FLAG, EXIT, stringFlag, UsageError, type Command, type Flag, type Values } from './command.ts';

const PATH_FLAG: Flag = { type: 'string', arg: 'DIR', help: 'the file ledger directory (instead of ledger.path from --config)' };

async function ledgerDir(values: Values): Promise<string> {
  const path = stringFlag(values, 'path');
  if (path !== undefined) return path;
  // Only the ledger section matters here, but a configuration is validated whole.
  const loaded = loadConfig({ path: stringFlag(values, 'config') });
  if (loaded.ledger.driver !== 'file') throw new UsageError('ledger verify/export read the file ledger; this configuration uses mongodb (query it with the admin API)');
  return loaded.ledger.path;
}

function date(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new UsageError(`${flag}: "${value}" is not a date (use ISO 8601, e.g. 2026-11-01T00:00:00Z)`);
  return parsed;
}

function describe(dir: string, report: VerifyReport): string {
  const lines: string[] = [];
  const chains = report.chains === undefined ? '' : ` (${report.chains.length} chains, one per worker)`;
  const counted = `${report.records} records in ${report.segments} segment${report.segments === 1 ? '' : 's'}${chains}`;
  if (report.ok) lines.push(`${dir}: chain ok, ${counted}${report.head === undefined ? '' : `, head ${report.head}`}`);
  else {
    const at = report.firstBreak!;
    lines.push(`${dir}: chain broken at ${at.segment} line ${at.line} (byte ${at.offset}${at.jti === undefined ? '' : `, jti ${at.jti}`}): ${at.problem}`);
    lines.push(`  ${counted} verified before the break`);
  }
  for (const chain of report.chains ?? []) {
    lines.push(`  chain ${chain.name === '' ? '(top)' : chain.name}: ${chain.ok ? 'ok' : 'broken'}, ${chain.records} records in ${chain.segments} segments${chain.head === undefined ? '' : `, head ${chain.head}`}`);
  }
  for (const warning of report.warnings) lines.push(`  warning (${warning.kind}) ${warning.file}: ${warning.detail}`);
  return `${lines.join('\n')}\n`;
}

const verifyCommand: Command = {
  name: 'verify',
  summary: 'check the file ledger\'s hash chain',
  synopsis: 'ledger verify [--config FILE | --path DIR] [--json]',
  description: [
    'Walks every segment and reports the first record whose link to the one before it is broken.',
    'Safe beside a running service (it only reads). Exit 0 when the chain is intact; 1 at a break;',
    '2 when the directory does not exist or the configuration is invalid.',
  ].join('\n'),
  flags: { config: CONFIG_FLAG, path: PATH_FLAG },
  json: true,
  async run({ values, out }) {
    const dir = await ledgerDir(values);
    const { verifyLedger } = await import('../record/verify.ts');
    const report = await verifyLedger(dir);
    out.stdout(out.json ? `${JSON.stringify(report, null, 2)}\n` : describe(dir, report));
    return report.ok ? EXIT.ok : EXIT.no;
  },
};

const exportCommand: Command = {
  name: 'export',
  summary: 'write the file ledger\'s records as JSON Lines',
  synopsis: 'ledger export [--config FILE | --path DIR] [--since ISO] [--until ISO]',
  description: [
    'One record per line on stdout (always JSON: it is data), oldest first; the count on stderr.',
    'Exit 0 when exported (damaged lines are skipped and counted); 2 when the directory does not exist.',
  ].join('\n'),
  flags: {
    config: CONFIG_FLAG,
    path: PATH_FLAG,
    since: { type: 'string', arg: 'ISO', help: 'first issuedAt to include (inclusive)' },
    until: { type: 'string', arg: 'ISO', help: 'issuedAt to stop before (exclusive)' },
  },
  json: false,
  async run({ values, out }) {
    const range = { since: date(stringFlag(values, 'since'), '--since'), until: date(stringFlag(values, 'until'), '--until') };
    const dir = await ledgerDir(values);
    const { exportLedger } = await import('../record/export.ts');
    const result = await exportLedger(dir, range, process.stdout);
    out.stderr(`exported ${result.records} records${result.skipped > 0 ? `, skipped ${result.skipped} damaged lines (run ledger verify)` : ''}\n`);
    return EXIT.ok;
  },
};

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: 'verify or export the file ledger',
  synopsis: 'ledger verify|export ...',
  description: 'Operator commands on the file ledger (the MongoDB store is read with the admin API).',
  flags: {},
  json: false,
  subcommands: [verifyCommand, exportCommand],
};
