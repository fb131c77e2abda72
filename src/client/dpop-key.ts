// The proof-of-possession key of the credential helper: generated on first use, kept as a
// private JWK in a file only its owner can read (0600, directory 0700). `registry-token login`
// uses a fresh key per run instead: the credential it obtains is not bound to the key.
import { randomUUID, type webcrypto } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { ClientError } from './errors.ts';

export type DpopKeys = webcrypto.CryptoKeyPair;

const ALG = 'ES256';

export async function ephemeralKeys(): Promise<DpopKeys> {
  return (await generateKeyPair(ALG, { extractable: true })) as DpopKeys;
}

async function fromJwk(jwk: JWK, path: string): Promise<DpopKeys> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new ClientError(`${path}: not an EC P-256 private key (remove the file and a new key is made)`);
  }
  const { d: _d, ...publicJwk } = jwk;
  try {
    const privateKey = (await importJWK(jwk, ALG, { extractable: false })) as webcrypto.CryptoKey;
    const publicKey = (await importJWK(publicJwk, ALG, { extractable: true })) as webcrypto.CryptoKey;
    return { privateKey, publicKey };
  } catch {
    throw new ClientError(`${path}: the key cannot be read (remove the file and a new key is made)`);
  }
}

async function read(path: string): Promise<DpopKeys> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new ClientError(`${path}: the DPoP key is readable by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch {
    throw new ClientError(`${path}: not a JSON Web Key (remove the file and a new key is made)`);
  }
  return fromJwk(jwk, path);
}

/**
 * The key in `path`, made on first use. Concurrent first uses (docker pulls in parallel) agree on
 * one key: each writes its own temporary file and link(2) lets exactly one become `path`.
 */
export async function loadOrCreateKeys(path: string): Promise<DpopKeys> {
  try {
    return await read(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const keys = await ephemeralKeys();
  const jwk = await exportJWK(keys.privateKey);
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600); // the umask may have taken bits away, never added: be exact anyway
      await fh.writeFile(`${JSON.stringify({ ...jwk, alg: ALG })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return read(path);
  } finally {
    await rm(tmp, { force: true });
  }
  await chmod(path, 0o600);
  return keys;
}
