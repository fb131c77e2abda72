// `bundle credentials` with the service configuration: this process builds the service (signing
// key, plans, revocations, ledger), issues through its pipeline, records each credential, and
// writes the kit. The file ledger is one process's at a time: while `serve` holds it, this
// refuses naming the holder (and points at --url).
import { userInfo } from 'node:os';
import { loadConfig } from '../config/loader.ts';
import { ServiceError } from '../domain/errors.ts';
import { LockHeldError } from '../record/dir-lock.ts';
import { createLogger } from '../telemetry/logger.ts';
import { orderCredentialBundle } from './credentials.ts';
import { BundleUsageError, type Io } from './io.ts';
import { writeBundle } from './manifest.ts';
import { summary, writeFailed, type Listed, type Order } from './order.ts';

function operatorName(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** With the service configuration: this process issues and records, holding the ledger. */
export async function issueHere(order: Order, configPath: string | undefined, io: Io): Promise<number> {
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

