// `registry-token bundle credentials`: an operator tool. It parses and checks the order, then
// gets it issued one of two ways: here, with the service's own configuration, holding its
// ledger (issue-here.ts), or by the running service through its admin API (`--url`, remote.ts).
// `--answer` only writes out a kit the service already answered (answer.ts).
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { refuseSecretOnCommandLine } from '../client/client-secret.ts';
import { writeAnswer } from './answer.ts';
import { BundleUsageError, createdTime, type Io } from './io.ts';
import { issueHere } from './issue-here.ts';
import type { Order } from './order.ts';
import { orderThere } from './remote.ts';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90d`, `36h`, `45m`, `600s` or `600` (seconds) to whole seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,10})([smhd]?)$/.exec(text.trim());
  if (match === null) throw new BundleUsageError(`--expires: "${text}" is not a duration (e.g. 90d, 36h, 45m, 600s)`);
  return Number(match[1]) * UNITS[match[2] === '' ? 's' : match[2]!]!;
}

export async function credentialsCommand(args: string[], io: Io): Promise<number> {
  refuseSecretOnCommandLine(args);
  const { values } = parseArgs({
    args,
    options: {
      answer: { type: 'string' },
      config: { type: 'string' },
      url: { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret-file': { type: 'string' },
      'authority-scope': { type: 'string' },
      resource: { type: 'string' },
      insecure: { type: 'boolean' },
      out: { type: 'string' },
      subject: { type: 'string' },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      plan: { type: 'string' },
      license: { type: 'string' },
      tenant: { type: 'string' },
      count: { type: 'string' },
      name: { type: 'string', multiple: true },
      created: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  if (values.answer !== undefined) {
    if (values.out === undefined) throw new BundleUsageError('bundle credentials --answer needs --out DIR');
    const issuing = (['subject', 'scope', 'expires', 'plan', 'license', 'tenant', 'count', 'name', 'created', 'config', 'url'] as const).filter((flag) => values[flag] !== undefined);
    if (issuing.length > 0) throw new BundleUsageError(`--answer writes a kit the service already issued: --${issuing[0]} does not go with it`);
    return writeAnswer(values.answer, resolve(values.out), values.force, io);
  }
  for (const flag of ['out', 'subject', 'expires'] as const) {
    if (values[flag] === undefined || values[flag] === '') throw new BundleUsageError(`bundle credentials needs --${flag}`);
  }
  const scopes = values.scope ?? [];
  if (scopes.length === 0) throw new BundleUsageError('bundle credentials needs --scope (repeat it): the repositories and actions the credentials are for, e.g. repository:team/app:pull');
  const names = values.name ?? [];
  let count = names.length === 0 ? 1 : names.length;
  if (values.count !== undefined) {
    if (!/^\d{1,3}$/.test(values.count) || Number(values.count) < 1 || Number(values.count) > 100) throw new BundleUsageError(`--count: "${values.count}" is not from 1 to 100`);
    if (names.length > 0 && Number(values.count) !== names.length) throw new BundleUsageError(`--count ${values.count} and ${names.length} --name disagree: give names (one credential each) or a count`);
    count = Number(values.count);
  }
  const order: Order = {
    subject: values.subject!,
    plan: values.plan,
    license: values.license,
    tenant: values.tenant,
    scopes,
    expiresIn: parseDuration(values.expires!),
    names: names.length > 0 ? names : Array.from({ length: count }, () => undefined),
    created: createdTime(values.created, io),
    out: resolve(values.out!),
    force: values.force,
  };
  // Before anything is issued: credentials recorded but never written would only need revoking.
  if (!order.force && (await lstat(order.out).then(() => true, () => false))) throw new BundleUsageError(`${order.out} already exists (use --force to replace it)`);
  if (values.url === undefined) {
    const remoteOnly = (['issuer', 'client-id', 'client-secret-file', 'authority-scope', 'resource', 'insecure'] as const).find((flag) => values[flag] !== undefined);
    if (remoteOnly !== undefined) throw new BundleUsageError(`--${remoteOnly} goes with --url (ordering from a running service)`);
    return issueHere(order, values.config, io);
  }
  return orderThere(order, values, io);
}
