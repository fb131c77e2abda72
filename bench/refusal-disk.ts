// `node bench/refusal-disk.ts`: what refusals cost the file ledger on disk, at worst.
//
// Writes, through the real record stage (createLedger: file driver, hash chain, refusal bounds),
// the largest refusals the pipeline can build: 64 scopes of 512 characters, a 256-character
// user agent, 255-character service, client id and subject, a 128-character request id, an IPv6
// address. Authenticated ones are stored one by one (cut to maxRecordBytes); anonymous ones are
// counted into summary records, here with every reason and the full address list, so each
// summary is as large as one can be. Prints bytes per record and per day at the given rate.
//
//   node bench/refusal-disk.ts [--count 2000] [--rate 100] [--max-record-bytes 4096] [--interval 60]
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLedger } from '../src/record/index.ts';
import type { IssuanceRecord, Ledger } from '../src/record/ledger.ts';
import type { RefusalBoundLedger } from '../src/record/refusals.ts';
import { SUMMARY_MAX_ADDRESSES } from '../src/record/refusals.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '100' },
    'max-record-bytes': { type: 'string', default: '4096' },
    interval: { type: 'string', default: '60' },
  },
});
const count = Number(values.count);
const rate = Number(values.rate);
const maxRecordBytes = Number(values['max-record-bytes']);
const interval = Number(values.interval);
const REASONS = ['invalid_request', 'invalid_scope', 'service_not_allowed', 'invalid_token', 'invalid_dpop_proof', 'insufficient_scope', 'plan_denied', 'license_revoked', 'subject_revoked', 'rate_limited', 'server_error'];

const long = (c: string, n: number) => c.repeat(n);
function worstRefusal(i: number, subject: string | undefined): IssuanceRecord {
  return {
    jti: `${String(i).padStart(10, '0')}${long('j', 12)}`,
    outcome: 'rejected',
    reason: REASONS[i % REASONS.length] as IssuanceRecord['reason'],
    issuedAt: new Date().toISOString(),
    subject,
    clientId: long('c', 255),
    service: long('s', 255),
    requestedScopes: Array.from({ length: 64 }, (_, k) => `repository:${long('r', 490)}-${String(k).padStart(2, '0')}:pull,push`.slice(0, 512)),
    granted: [],
    remoteAddress: `2001:0db8:85a3:0000:0000:8a2e:${String(i % (SUMMARY_MAX_ADDRESSES * 2)).padStart(4, '0')}:7334`,
    userAgent: long('u', 256),
    requestId: long('q', 128),
  };
}

function ledgerBytes(dir: string): number {
  return readdirSync(dir).filter((n) => n.endsWith('.jsonl')).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
}

async function measure(kind: 'authenticated' | 'anonymous'): Promise<{ records: number; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'refusal-disk-'));
  const path = join(dir, 'ledger');
  try {
    const ledger: Ledger = await createLedger(
      { driver: 'file', path, maxFileBytes: 64 * 1024 * 1024, onUnavailable: 'reject', spoolPath: join(dir, 'spool'), refusals: { maxRecordBytes, anonymous: 'summary', summaryIntervalSeconds: 3600 } },
      { logger: { info() {}, warn() {}, error() {} } },
    );
    let summaries = 0;
    await Promise.all(Array.from({ length: count }, (_, i) => ledger.append(worstRefusal(i, kind === 'authenticated' ? long('a', 255) : undefined))));
    if (kind === 'anonymous') {
      await (ledger as RefusalBoundLedger).flush();
      summaries = 1;
    }
    await ledger.close();
    return { records: kind === 'anonymous' ? summaries : count, bytes: ledgerBytes(path) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const gib = (bytes: number) => `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
const auth = await measure('authenticated');
const anon = await measure('anonymous');
const perAuth = auth.bytes / auth.records;
const perSummary = anon.bytes / anon.records;
const day = 86_400;
process.stdout.write(
  [
    `maxRecordBytes ${maxRecordBytes}, summaryIntervalSeconds ${interval}, ${count} refusals of each kind written`,
    `authenticated refusal: ${perAuth.toFixed(0)} bytes each (worst case)`,
    `anonymous refusals: ${perSummary.toFixed(0)} bytes per summary record (worst case, any number of refusals)`,
    `at ${rate} refusals/s for a day: authenticated ${gib(perAuth * rate * day)}; anonymous ${mib(perSummary * (day / interval))} (${day / interval} summaries, whatever the rate)`,
  ].join('\n') + '\n',
);
