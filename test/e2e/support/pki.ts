// Signing keys with self-signed certificates for the registry's `rootcertbundle`, made by
// the openssl CLI (as an operator would), loaded as node KeyObjects for signing.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type KeyType = 'rsa' | 'ec';

export interface SigningCert {
  keyType: KeyType;
  /** The JWS algorithm distribution 2.8 accepts for this key. */
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  keyPath: string;
  certPath: string;
  certPem: string;
  /** base64 (not base64url) DER of the certificate: one `x5c` entry. */
  certDerBase64: string;
  certificate: X509Certificate;
}

export interface CreateSigningCertOptions {
  keyType?: KeyType;
  commonName?: string;
  days?: number;
}

/** `openssl req -x509 -newkey ...` into `dir` (created if missing). */
export async function createSigningCert(dir: string, options: CreateSigningCertOptions = {}): Promise<SigningCert> {
  const keyType = options.keyType ?? 'rsa';
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, 'signing-key.pem');
  const certPath = join(dir, 'signing-cert.pem');
  const newkey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await execFileAsync('openssl', [
    'req', '-x509', ...newkey, '-nodes', '-sha256',
    '-keyout', keyPath, '-out', certPath,
    '-days', String(options.days ?? 2),
    '-subj', `/CN=${options.commonName ?? `registry-token e2e ${keyType}`}`,
  ]);
  const certPem = await readFile(certPath, 'utf8');
  const certificate = new X509Certificate(certPem);
  return {
    keyType,
    alg: keyType === 'rsa' ? 'RS256' : 'ES256',
    privateKey: createPrivateKey(await readFile(keyPath, 'utf8')),
    keyPath,
    certPath,
    certPem,
    certDerBase64: certificate.raw.toString('base64'),
    certificate,
  };
}

/** Concatenates certificates into a PEM bundle file (the registry's `rootcertbundle`). */
export async function writeCertBundle(path: string, certs: readonly SigningCert[]): Promise<string> {
  await writeFile(path, certs.map((c) => c.certPem.trimEnd() + '\n').join(''));
  return path;
}
