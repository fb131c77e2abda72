// A bundle is a directory of files, `manifest.json` listing each with its SHA-256 and size, and
// `manifest.jws`, a detached JWS of manifest.json by the active signing key. Built in a sibling
// directory and renamed into place, so a half-written bundle never appears under its name.
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { JWK } from 'jose';
import { z } from 'zod';
import type { SigningKey } from '../mint/signing-key.ts';
import { canonicalJson } from './canonical.ts';
import { checkCredentials } from './credential-check.ts';
import { sha256Hex, signDetached, verifyDetached } from './detached-jws.ts';

export const MANIFEST = 'manifest.json';
export const MANIFEST_JWS = 'manifest.jws';
export const BUNDLE_FORMAT = 'registry-token-offline-kit/1';

export type BundleKind = 'trust' | 'credentials';

export interface BundleFile {
  /** Relative, `/`-separated, no `..`: `jwks.json`, `secrets/rtc_....credential`. */
  readonly path: string;
  readonly bytes: Buffer;
  /** 0o644 for what a registry may read, 0o600 for secrets. */
  readonly mode: number;
}

export interface BundleInput {
  readonly kind: BundleKind;
  /** RFC 3339, whole seconds, Z (canonical.ts, bundleTime). */
  readonly created: string;
  readonly issuer: string;
  readonly files: readonly BundleFile[];
  /** Kind-specific members of the manifest (credentials: the list of credentials). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const SAFE_PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

const manifestSchema = z.looseObject({
  format: z.literal(BUNDLE_FORMAT),
  kind: z.enum(['trust', 'credentials']),
  created: z.string(),
  issuer: z.string(),
  signedBy: z.strictObject({ kid: z.string(), alg: z.string() }),
  files: z.array(z.strictObject({ path: z.string().regex(SAFE_PATH), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().min(0) })),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** The manifest text for these files: sorted by path (code units), canonical JSON. */
export function manifestText(input: BundleInput, key: SigningKey): string {
  const files = [...input.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((file) => ({ path: file.path, sha256: sha256Hex(file.bytes), size: file.bytes.length }));
  return canonicalJson({
    ...input.extra,
    format: BUNDLE_FORMAT,
    kind: input.kind,
    created: input.created,
    issuer: input.issuer,
    signedBy: { kid: key.keyId, alg: key.algorithm },
    files,
  });
}

/** Every file of the bundle, manifest.json and manifest.jws included, exactly as written. */
export function bundleFiles(input: BundleInput, key: SigningKey): BundleFile[] {
  for (const file of input.files) {
    if (!SAFE_PATH.test(file.path) || file.path === MANIFEST || file.path === MANIFEST_JWS) throw new TypeError(`bundle file name ${file.path} is not allowed`);
  }
  const manifest = Buffer.from(manifestText(input, key), 'utf8');
  return [
    ...input.files,
    { path: MANIFEST, bytes: manifest, mode: 0o644 },
    { path: MANIFEST_JWS, bytes: Buffer.from(`${signDetached(manifest, key)}\n`, 'ascii'), mode: 0o644 },
  ];
}

export interface WriteOptions {
  /** Replace an existing bundle directory. */
  readonly force?: boolean;
}

/** Writes the bundle to `dir` (which must not exist unless `force`); every mtime is `created`. */
export async function writeBundle(dir: string, input: BundleInput, key: SigningKey, options: WriteOptions = {}): Promise<{ dir: string; manifest: string }> {
  const all = bundleFiles(input, key);
  const written = await writeBundleFiles(dir, all, input.created, options);
  return { dir: written.dir, manifest: all.find((file) => file.path === MANIFEST)!.bytes.toString('utf8') };
}

/** Writes files made by bundleFiles (here or elsewhere: an admin API answer) as the bundle `dir`. */
export async function writeBundleFiles(dir: string, all: readonly BundleFile[], created: string, options: WriteOptions = {}): Promise<{ dir: string }> {
  for (const file of all) {
    if (!SAFE_PATH.test(file.path)) throw new TypeError(`bundle file name ${file.path} is not allowed`);
  }
  const target = resolve(dir);
  const exists = await lstat(target).then(() => true, () => false);
  if (exists && options.force !== true) throw new BundleExistsError(`${target} already exists (use --force to replace it)`);
  const secret = all.some((file) => (file.mode & 0o077) === 0);
  const staging = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true, mode: secret ? 0o700 : 0o755 });
  const mtime = new Date(created);
  const dirs = new Set<string>();
  try {
    for (const file of all) {
      const path = join(staging, ...file.path.split('/'));
      for (let parent = dirname(path); parent.length > staging.length; parent = dirname(parent)) dirs.add(parent);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, file.bytes, { mode: file.mode, flag: 'wx' });
      await chmod(path, file.mode); // the umask may have narrowed it
      await utimes(path, mtime, mtime);
    }
    for (const sub of [...dirs].sort((a, b) => b.length - a.length)) await utimes(sub, mtime, mtime);
    await utimes(staging, mtime, mtime);
    if (exists) await rm(target, { recursive: true, force: true });
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { dir: target };
}

export class BundleExistsError extends Error {}

export type BundleVerdict =
  | { readonly ok: true; readonly kind: BundleKind; readonly created: string; readonly kid: string; readonly files: number; readonly manifest: Manifest }
  | { readonly ok: false; readonly file: string; readonly problem: string };

async function walk(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await walk(root, rel)));
    else out.push(rel);
  }
  return out;
}

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Checks the signature of manifest.json against `jwks`, then every listed file, in manifest
 * order; names the first file that does not match. Files the manifest does not list are refused.
 */
export async function verifyBundle(dir: string, jwks: { keys: readonly JWK[] }): Promise<BundleVerdict> {
  const fail = (file: string, problem: string): BundleVerdict => ({ ok: false, file, problem });
  const root = resolve(dir);
  const manifestBytes = await readOrUndefined(join(root, MANIFEST));
  if (manifestBytes === undefined) return fail(MANIFEST, 'missing');
  const jws = await readOrUndefined(join(root, MANIFEST_JWS));
  if (jws === undefined) return fail(MANIFEST_JWS, 'missing');
  const signature = await verifyDetached(jws.toString('latin1'), manifestBytes, jwks);
  if (!signature.ok) {
    return signature.culprit === 'payload'
      ? fail(MANIFEST, `${signature.problem} (${MANIFEST_JWS})`)
      : fail(MANIFEST_JWS, signature.problem);
  }
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(manifestBytes.toString('utf8')));
  } catch {
    return fail(MANIFEST, 'signed, but not a manifest of this format');
  }
  if (manifest.signedBy.kid !== signature.kid) return fail(MANIFEST, `names signer ${manifest.signedBy.kid}, but ${MANIFEST_JWS} is signed by ${signature.kid}`);
  const listed = new Set<string>([MANIFEST, MANIFEST_JWS]);
  for (const file of manifest.files) {
    listed.add(file.path);
    const bytes = await readOrUndefined(join(root, ...file.path.split('/')));
    if (bytes === undefined) return fail(file.path, 'missing');
    if (bytes.length !== file.size || sha256Hex(bytes) !== file.sha256) return fail(file.path, 'its SHA-256 is not the one in the manifest');
  }
  for (const path of await walk(root)) {
    if (!listed.has(path.split(sep).join('/'))) return fail(path, 'not listed in the manifest');
  }
  if (manifest.kind === 'credentials') {
    const problem = await checkCredentials(manifest, (path) => readOrUndefined(join(root, ...path.split('/'))), jwks);
    if (problem !== undefined) return fail(problem.file ?? MANIFEST, problem.problem);
  }
  return { ok: true, kind: manifest.kind, created: manifest.created, kid: signature.kid, files: manifest.files.length, manifest };
}
