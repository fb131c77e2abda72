// `registry-token bundle credentials`: an operator tool that runs with the service's own
// configuration (signing key, plans, revocations, ledger) and issues through the same pipeline
// as the admin API, each credential recorded before the bundle is written. The file ledger is
// one process's at a time: while `serve` holds it, this refuses naming the holder, and the
// bundle is ordered from the running service instead: `--url` makes this a thin client of its
// admin API (remote.ts), with the operator's own Authority client for the admin OpTok.
import { readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/loader.ts';
import { ServiceError } from '../domain/errors.ts';
import { LockHeldError } from '../record/dir-lock.ts';
import { createLogger } from '../telemetry/logger.ts';
import { readClientSecret, refuseSecretOnCommandLine } from '../client/client-secret.ts';
import { secureUrl, tokenServiceBase } from '../client/urls.ts';
import { filesOfAnswer } from './answer.ts';
import { orderCredentialBundle } from './credentials.ts';
import { BundleUsageError, createdTime, type Io } from './io.ts';
import { writeBundle, writeBundleFiles } from './manifest.ts';
import { orderFromService } from './remote.ts';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90d`, `36h`, `45m`, `600s` or `600` (seconds) to whole seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,10})([smhd]?)$/.exec(text.trim());
  if (match === null) throw new BundleUsageError(`--expires: "${text}" is not a duration (e.g. 90d, 36h, 45m, 600s)`);
  return Number(match[1]) * UNITS[match[2] === '' ? 's' : match[2]!]!;
}

function operatorName(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** `--answer FILE`: writes what POST /admin/bundles/credentials answered as the kit; issues nothing. */
async function writeAnswer(path: string, out: string, force: boolean, io: Io): Promise<number> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new BundleUsageError(`--answer: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let answer: ReturnType<typeof filesOfAnswer>;
  try {
    answer = filesOfAnswer(JSON.parse(text));
  } catch {
    answer = undefined;
  }
  if (answer === undefined) throw new BundleUsageError(`--answer: ${path} is not an answer of POST /admin/bundles/credentials`);
  const { files } = answer;
  try {
    await writeBundleFiles(out, files, answer.created, { force });
  } catch (error) {
    throw new BundleUsageError(`--answer: ${(error as Error).message}`);
  }
  io.stdout(`${JSON.stringify({ dir: out, kind: 'credentials', created: answer.created, files: files.map((file) => file.path).sort() }, null, 2)}\n`);
  return 0;
}

/** What the operator ordered, parsed and checked before anything is issued. */
interface Order {
  readonly subject: string;
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly tenant: string | undefined;
  readonly scopes: readonly string[];
  readonly expiresIn: number;
  /** One entry per credential. */
  readonly names: readonly (string | undefined)[];
  readonly created: string;
  readonly out: string;
  readonly force: boolean;
}

interface Listed {
  readonly id: string;
  readonly file: string;
  readonly expiresAt: string;
}

const summary = (order: Order, signedBy: string, listed: readonly Listed[]): string =>
  `${JSON.stringify({ dir: order.out, kind: 'credentials', created: order.created, signedBy, credentials: listed.map((c) => ({ id: c.id, file: c.file, expiresAt: c.expiresAt })) }, null, 2)}\n`;

const writeFailed = (listed: readonly Listed[], error: unknown): Error =>
  new Error(`the credentials ${listed.map((c) => c.id).join(', ')} were issued and recorded, but the bundle could not be written (${(error as Error).message}); revoke them by id`);

/** With the service configuration: this process issues and records, holding the ledger. */
async function issueHere(order: Order, configPath: string | undefined, io: Io): Promise<number> {
  const config = loadConfig({ path: configPath, env: io.env });
  if (!config.credentials.enabled) throw new BundleUsageError('credentials.enabled is false: this token service issues no registry credentials');
  const logger = createLogger({ level: 'warn', destination: { write: (line: string) => io.stderr(line) } });
  const { createService } = await import('../service.ts');
  let service: Awaited<ReturnType<typeof createService>>;
  try {
    service = await createService(config, { logger });
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new BundleUsageError(`${error.message}\nWhile the service runs, order the bundle from it instead: --url (its admin API, POST /admin/bundles/credentials; docs/offline.md).`);
    }
    throw error;
  }
  try {
    const key = service.keys.current().active;
    const input = await orderCredentialBundle(
      service.pipeline,
      {
        orderedBy: operatorName(),
        ...order,
        context: { requestId: `cli-${process.pid}`, remoteAddress: undefined, userAgent: 'registry-token bundle credentials' },
      },
      { issuer: config.signing.issuer, created: order.created },
    );
    const listed = input.extra!['credentials'] as Listed[];
    try {
      await writeBundle(order.out, input, key, { force: order.force });
    } catch (error) {
      throw writeFailed(listed, error);
    }
    io.stdout(summary(order, key.keyId, listed));
    return 0;
  } catch (error) {
    // A refusal (unknown plan, revoked subject or licence, a lifetime out of bounds) is an answer.
    if (error instanceof ServiceError) {
      io.stderr(`registry-token: bundle credentials: refused (${error.reason}): ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await service.close();
  }
}

/** Through a running service's admin API, with the operator's own Authority client. */
async function orderThere(order: Order, flags: Record<string, string | boolean | string[] | undefined>, io: Io): Promise<number> {
  const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
  for (const flag of ['issuer', 'client-id']) if (text(flag) === undefined) throw new BundleUsageError(`bundle credentials --url needs --${flag} (the operator's client at the Authority)`);
  if (text('config') !== undefined) throw new BundleUsageError('--url orders from the running service, which has its own configuration: --config does not go with it');
  const insecure = flags['insecure'] === true;
  const base = tokenServiceBase(secureUrl(text('url')!, '--url', insecure));
  const authority = {
    issuer: secureUrl(text('issuer')!, '--issuer', insecure),
    clientId: text('client-id')!,
    clientSecret: await readClientSecret(text('client-secret-file'), io.env),
    scope: text('authority-scope') ?? 'registry.token.admin',
    resource: text('resource'),
  };
  const named = order.names.every((name) => name !== undefined);
  const body = {
    subject: order.subject,
    ...(order.plan === undefined ? {} : { plan: order.plan }),
    ...(order.license === undefined ? {} : { license: order.license }),
    ...(order.tenant === undefined ? {} : { tenant: order.tenant }),
    scope: [...order.scopes],
    expires_in: order.expiresIn,
    ...(named ? { names: order.names } : { count: order.names.length }),
    created: order.created,
  };
  const result = await orderFromService(base, authority, body);
  if (!result.ok) {
    io.stderr(`registry-token: bundle credentials: refused (${result.code}): ${result.message}\n`);
    return 1;
  }
  const kit = filesOfAnswer(result.answer);
  const answer = result.answer as { credentials?: Listed[]; signedBy?: { kid?: string } };
  if (kit === undefined || !Array.isArray(answer.credentials)) throw new Error(`${base.href}: the answer is not a credential bundle`);
  try {
    await writeBundleFiles(order.out, kit.files, kit.created, { force: order.force });
  } catch (error) {
    throw writeFailed(answer.credentials, error);
  }
  io.stdout(summary(order, answer.signedBy?.kid ?? '', answer.credentials));
  return 0;
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
  return values.url === undefined ? issueHere(order, values.config, io) : orderThere(order, values, io);
}
