// `registry-token bundle ...`: the Offline Kit commands (docs/offline.md). cli.ts hands over the
// arguments after `bundle`; this file parses its own options so the main CLI stays thin.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { loadConfig } from '../config/loader.ts';
import { loadKeySet } from '../mint/key-set.ts';
import { BundleExistsError, verifyBundle, writeBundle } from './manifest.ts';
import { trustBundle } from './trust.ts';
import { credentialsCommand } from './credentials-cli.ts';
import { BundleUsageError, createdTime, processIo, type Io } from './io.ts';
import { BUNDLE_USAGE } from './usage.ts';


export { BundleUsageError, type Io } from './io.ts';

function readJwks(path: string): { keys: JWK[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BundleUsageError(`--jwks: ${code === undefined ? `${path} is not JSON` : `cannot read ${path} (${code})`}`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'object' && key !== null)) throw new BundleUsageError(`--jwks: ${path} is not a JWKS ({"keys": [...]})`);
  return { keys: keys as JWK[] };
}

async function trust(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      out: { type: 'string' },
      created: { type: 'string' },
      service: { type: 'string' },
      realm: { type: 'string' },
      'registry-dir': { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  if (values.out === undefined) throw new BundleUsageError('bundle trust needs --out DIR');
  const config = loadConfig({ path: values.config, env: io.env });
  const keys = loadKeySet(config.signing, io.env);
  for (const warning of keys.warnings) io.stderr(`warning: ${warning}\n`);
  const allowed = config.registry.allowedServices;
  const service = values.service ?? (allowed.length === 1 ? allowed[0] : undefined);
  if (service === undefined) {
    throw new BundleUsageError(`bundle trust needs --service NAME: registry.allowedServices ${allowed.length === 0 ? 'is empty' : `names ${allowed.length} services`}`);
  }
  const input = trustBundle({
    keys,
    issuer: config.signing.issuer,
    realm: values.realm ?? config.registry.realm,
    service,
    created: createdTime(values.created, io),
    registryDir: values['registry-dir'],
  });
  if (!keys.published.some((key) => key.x5c.length > 0)) {
    io.stderr('warning: no published key has a certificate: distribution 2.x cannot trust these keys, so the bundle has no rootcertbundle.pem and no 2.x section\n');
  }
  try {
    const written = await writeBundle(values.out, input, keys.active, { force: values.force });
    io.stdout(`${JSON.stringify({ dir: written.dir, kind: 'trust', created: input.created, signedBy: keys.active.keyId, files: [...input.files.map((f) => f.path), 'manifest.json', 'manifest.jws'].sort() }, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof BundleExistsError) throw new BundleUsageError(error.message);
    throw error;
  }
}

async function verify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { jwks: { type: 'string' } } });
  const [dir, ...more] = positionals;
  if (dir === undefined || more.length > 0) throw new BundleUsageError('bundle verify needs exactly one DIR');
  if (values.jwks === undefined) throw new BundleUsageError('bundle verify needs --jwks FILE: the JWKS you trust, obtained apart from the bundle');
  const verdict = await verifyBundle(dir, readJwks(values.jwks));
  if (!verdict.ok) {
    io.stderr(`registry-token: bundle verify: ${verdict.file}: ${verdict.problem}\n`);
    io.stdout(`${JSON.stringify({ ok: false, file: verdict.file, problem: verdict.problem }, null, 2)}\n`);
    return 1;
  }
  // A credential kit also says what it holds and until when: verified, so the manifest's word.
  const held = verdict.kind === 'credentials'
    ? { credentials: (verdict.manifest['credentials'] as { id: string; subject: string; name?: string; expiresAt: string }[]).map(({ id, subject, name, expiresAt }) => ({ id, subject, name, expiresAt })) }
    : {};
  io.stdout(`${JSON.stringify({ ok: true, kind: verdict.kind, created: verdict.created, signedBy: verdict.kid, files: verdict.files, ...held }, null, 2)}\n`);
  return 0;
}

/** Exit code: 0 done, 1 a bundle that does not verify; usage and configuration errors throw. */
export async function bundleCommand(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  // `bundle --help`, `bundle help`, `bundle credentials --help`: the usage, exit 0.
  if (argv.some((arg) => arg === '--help' || arg === '-h') || sub === 'help') {
    io.stdout(`usage:\n${BUNDLE_USAGE}\n\nDetails: docs/offline.md.\n`);
    return 0;
  }
  switch (sub) {
    case 'trust':
      return trust(rest, io);
    case 'credentials':
      return credentialsCommand(rest, io);
    case 'verify':
      return verify(rest, io);
    default:
      throw new BundleUsageError(`bundle needs trust, credentials or verify\nusage:\n${BUNDLE_USAGE}`);
  }
}
