// `registry-token bundle credentials`: an operator tool that runs with the service's own
// configuration (signing key, plans, revocations, ledger) and issues through the same pipeline
// as the admin API, each credential recorded before the bundle is written. The file ledger is
// one process's at a time: while `serve` holds it, this refuses naming the holder, and the
// bundle is ordered from the running service instead (POST /admin/bundles/credentials).
import { readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/loader.ts';
import { ServiceError } from '../domain/errors.ts';
import { LockHeldError } from '../record/dir-lock.ts';
import { createLogger } from '../telemetry/logger.ts';
import { filesOfAnswer } from './answer.ts';
import { orderCredentialBundle } from './credentials.ts';
import { BundleUsageError, createdTime, type Io } from './io.ts';
import { writeBundle, writeBundleFiles } from './manifest.ts';

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

export async function credentialsCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      answer: { type: 'string' },
      config: { type: 'string' },
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
    const issuing = (['subject', 'scope', 'expires', 'plan', 'license', 'tenant', 'count', 'name', 'created', 'config'] as const).filter((flag) => values[flag] !== undefined);
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
  const expiresIn = parseDuration(values.expires!);
  const created = createdTime(values.created, io);
  const out = resolve(values.out!);
  // Before anything is issued: credentials recorded but never written would only need revoking.
  if (!values.force && (await lstat(out).then(() => true, () => false))) throw new BundleUsageError(`${out} already exists (use --force to replace it)`);

  const config = loadConfig({ path: values.config, env: io.env });
  if (!config.credentials.enabled) throw new BundleUsageError('credentials.enabled is false: this token service issues no registry credentials');
  const logger = createLogger({ level: 'warn', destination: { write: (line: string) => io.stderr(line) } });
  const { createService } = await import('../service.ts');
  let service: Awaited<ReturnType<typeof createService>>;
  try {
    service = await createService(config, { logger });
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new BundleUsageError(`${error.message}\nWhile the service runs, order the bundle from it instead: POST /admin/bundles/credentials (docs/offline.md).`);
    }
    throw error;
  }
  try {
    const key = service.keys.current().active;
    const input = await orderCredentialBundle(
      service.pipeline,
      {
        orderedBy: operatorName(),
        subject: values.subject!,
        plan: values.plan,
        license: values.license,
        tenant: values.tenant,
        scopes,
        expiresIn,
        names: names.length > 0 ? names : Array.from({ length: count }, () => undefined),
        context: { requestId: `cli-${process.pid}`, remoteAddress: undefined, userAgent: 'registry-token bundle credentials' },
      },
      { issuer: config.signing.issuer, created },
    );
    const listed = input.extra!['credentials'] as { id: string; file: string; expiresAt: string }[];
    try {
      await writeBundle(out, input, key, { force: values.force });
    } catch (error) {
      throw new Error(`the credentials ${listed.map((c) => c.id).join(', ')} were issued and recorded, but the bundle could not be written (${(error as Error).message}); revoke them by id`);
    }
    io.stdout(`${JSON.stringify({ dir: out, kind: 'credentials', created, signedBy: key.keyId, credentials: listed.map((c) => ({ id: c.id, file: c.file, expiresAt: c.expiresAt })) }, null, 2)}\n`);
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
