// Signing material for a new deployment, in the shapes both sides need: the service reads the
// PKCS#8 key and certificate; distribution 2.x trusts `rootcertbundle` (finds the key by its
// libtrust `kid` or the `x5c` chain), distribution 3.x also reads a static JWKS whose `kid` is
// the same libtrust id. One key serves both registry generations.
import { createPublicKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { libtrustKeyId } from '../mint/key-id.ts';

export type KeygenAlgorithm = 'RS256' | 'ES256';

export interface KeygenOptions {
  outDir: string;
  alg: KeygenAlgorithm;
  /** Registry `service` (token `aud`). */
  service?: string;
  /** Token `iss`; must equal `signing.issuer` of the service configuration. */
  issuer?: string;
  /** The URL of this service's /token endpoint that the registry sends clients to. */
  realm?: string;
  /** Where the registry will find rootcertbundle.pem and jwks.json; default: outDir. */
  registryConfigDir?: string;
  commonName?: string;
  validityDays?: number;
  /** Replace existing files instead of refusing. */
  force?: boolean;
  /** Certificate start; injected by tests. */
  now?: Date;
}

export interface KeygenResult {
  kid: string;
  alg: KeygenAlgorithm;
  paths: {
    key: string;
    certificate: string;
    rootCertBundle: string;
    jwks: string;
    registrySnippet: string;
  };
}

export const KEYGEN_DEFAULTS = {
  service: 'registry.localhost',
  issuer: 'registry-token',
  realm: 'http://127.0.0.1:8085/token',
  commonName: 'registry-token',
  validityDays: 3650,
} as const;

const FILES = {
  key: 'signing-key.pem',
  certificate: 'signing-cert.pem',
  rootCertBundle: 'rootcertbundle.pem',
  jwks: 'jwks.json',
  registrySnippet: 'registry-auth-snippet.yml',
} as const;

// @peculiar/x509 is typed against the DOM `Crypto`; Node's webcrypto is that API. Passing it
// per call avoids setting the library's process-wide provider.
const crypto = webcrypto as unknown as Parameters<typeof X509.cryptoProvider.set>[0];

/**
 * Loaded on first use: only key generation needs it, so `serve` never pays for it, and it
 * needs the Reflect metadata polyfill (through tsyringe) installed before it loads.
 */
async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

const ALGORITHMS = {
  RS256: {
    generate: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  ES256: {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
} as const;

/** Creates a signing key, its self-signed certificate, a JWKS and the registry's auth section. */
export async function keygen(options: KeygenOptions): Promise<KeygenResult> {
  const algorithm = ALGORITHMS[options.alg];
  if (algorithm === undefined) throw new TypeError(`alg must be RS256 or ES256, got ${String(options.alg)}`);
  const validityDays = options.validityDays ?? KEYGEN_DEFAULTS.validityDays;
  if (!Number.isInteger(validityDays) || validityDays < 1) throw new TypeError('validityDays must be a positive integer');

  const outDir = resolve(options.outDir);
  const paths = {
    key: join(outDir, FILES.key),
    certificate: join(outDir, FILES.certificate),
    rootCertBundle: join(outDir, FILES.rootCertBundle),
    jwks: join(outDir, FILES.jwks),
    registrySnippet: join(outDir, FILES.registrySnippet),
  };
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  // Check every file before writing any, so a refusal leaves nothing half-replaced.
  if (options.force !== true) {
    const existing = (await Promise.all(Object.values(paths).map(async (p) => ((await exists(p)) ? p : undefined)))).filter(
      (p): p is string => p !== undefined,
    );
    if (existing.length > 0) throw new Error(`refusing to overwrite ${existing.join(', ')} (use force)`);
  }

  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(algorithm.generate, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const privateKey = KeyObject.from(keys.privateKey);
  const kid = libtrustKeyId(privateKey);

  const notBefore = new Date((options.now ?? new Date()).getTime() - 5 * 60_000); // tolerate clock skew
  const notAfter = new Date(notBefore.getTime() + validityDays * 86_400_000);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER, as RFC 5280 requires
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [options.commonName ?? KEYGEN_DEFAULTS.commonName] }],
      notBefore,
      notAfter,
      signingAlgorithm: algorithm.sign,
      keys,
      // A signing key, not a CA. No extendedKeyUsage: Go's verifier would then have to match it.
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const certificatePem = `${certificate.toString('pem')}\n`;

  const jwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, use: 'sig', alg: options.alg };
  const registryDir = options.registryConfigDir ?? outDir;

  const write = async (path: string, data: string, mode: number): Promise<void> => {
    await writeFile(path, data, { mode, flag: options.force === true ? 'w' : 'wx' });
    await chmod(path, mode); // writeFile's mode only applies to a file it creates
  };
  await write(paths.key, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  await write(paths.certificate, certificatePem, 0o644);
  await write(paths.rootCertBundle, certificatePem, 0o644);
  await write(paths.jwks, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`, 0o644);
  await write(
    paths.registrySnippet,
    registrySnippet({
      realm: options.realm ?? KEYGEN_DEFAULTS.realm,
      service: options.service ?? KEYGEN_DEFAULTS.service,
      issuer: options.issuer ?? KEYGEN_DEFAULTS.issuer,
      rootcertbundle: join(registryDir, FILES.rootCertBundle),
      jwks: join(registryDir, FILES.jwks),
      kid,
    }),
    0o644,
  );
  return { kid, alg: options.alg, paths };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** JSON strings are valid YAML scalars, so values need no YAML library to be quoted safely. */
function registrySnippet(v: { realm: string; service: string; issuer: string; rootcertbundle: string; jwks: string; kid: string }): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    '# The `auth` section of the distribution registry configuration (config.yml).',
    `# Signing key id (libtrust form): ${v.kid}`,
    '# issuer must equal signing.issuer of registry-token; service is the token audience.',
    'auth:',
    '  token:',
    `    realm: ${q(v.realm)}`,
    `    service: ${q(v.service)}`,
    `    issuer: ${q(v.issuer)}`,
    `    rootcertbundle: ${q(v.rootcertbundle)}`,
    '    # distribution 3.x: 3.x no longer matches libtrust ids against the bundle; it finds the',
    '    # key by this kid in the JWKS (or by x5c). 2.x ignores the key.',
    `    jwks: ${q(v.jwks)}`,
    '',
  ].join('\n');
}
