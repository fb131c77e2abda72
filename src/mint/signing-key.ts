// Loads the registry-token signing key once at start-up: PEM (PKCS#1 or PKCS#8, optionally
// encrypted) or PFX/PKCS#12, plus an optional certificate chain for the `x5c` header.
import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type forgeModule from 'node-forge';
import { ConfigError } from '../domain/errors.ts';
import { libtrustKeyId } from './key-id.ts';

export const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly algorithm: SigningAlgorithm;
  readonly keyId: string;
  /** Base64 DER certificates, leaf first; empty when no certificate is configured. */
  readonly x5c: readonly string[];
}

export interface SigningKeyOptions {
  keyPath: string;
  keyPassword?: string | undefined;
  certificatePath?: string | undefined;
  keyId?: string | undefined;
  algorithm?: SigningAlgorithm | undefined;
  /** Configuration keys named in errors; default: the single-key form (`signing.keyPath`, ...). */
  names?: KeyOptionNames | undefined;
}

/** Which configuration key each option came from, so an error names the one to fix. */
export interface KeyOptionNames {
  readonly path: string;
  readonly password: string;
  readonly certificate: string;
  readonly algorithm: string;
}

export const SINGLE_KEY_NAMES: KeyOptionNames = {
  path: 'signing.keyPath',
  password: 'signing.keyPassword',
  certificate: 'signing.certificatePath',
  algorithm: 'signing.algorithm',
};

const CURVE_ALGORITHM: Record<string, SigningAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

export function readKeyFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([`${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

// Node's crypto cannot open PKCS#12; node-forge is the maintained JS reader for it. Loaded only
// for a PFX: it is ~30 ms of every process's start (docs/performance.md), and a synchronous
// require keeps key loading synchronous.
function fromPkcs12(der: Buffer, password: string | undefined, names: KeyOptionNames): { key: KeyObject; certificates: string[] } {
  const forge = createRequire(import.meta.url)('node-forge') as typeof forgeModule;
  let p12: forgeModule.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), password ?? '');
  } catch {
    throw new ConfigError([`${names.path}: cannot open the PKCS#12 file (wrong ${names.password}, or not a PFX)`]);
  }
  const bags = (type: string): forgeModule.pkcs12.Bag[] => p12.getBags({ bagType: type })[type] ?? [];
  const oids = forge.pki.oids as Record<string, string>;
  const keyBags = [...bags(oids.pkcs8ShroudedKeyBag!), ...bags(oids.keyBag!)];
  // forge leaves `key`/`cert` null (not undefined) for material it does not model (EC).
  const keyBag = keyBags.find((bag) => bag.key != null || bag.asn1 !== undefined);
  if (keyBag === undefined) throw new ConfigError([`${names.path}: the PKCS#12 file holds no private key`]);
  // forge only models RSA keys; for others, re-wrap the raw PKCS#8 structure it kept.
  const pkcs8Der =
    keyBag.key != null
      ? forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key))).getBytes()
      : forge.asn1.toDer(keyBag.asn1!).getBytes();
  const key = createPrivateKey({ key: Buffer.from(pkcs8Der, 'binary'), format: 'der', type: 'pkcs8' });
  const certBags = bags(oids.certBag!);
  const certificates = certBags
    .filter((bag) => bag.cert != null || bag.asn1 !== undefined)
    .map((bag) => {
      const asn1 = bag.cert != null ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1!;
      return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary').toString('base64');
    });
  return { key, certificates };
}

function fromPem(pem: Buffer, password: string | undefined, names: KeyOptionNames): KeyObject {
  try {
    return createPrivateKey(password === undefined ? { key: pem } : { key: pem, passphrase: password });
  } catch (error) {
    const message = (error as Error).message;
    if (/passphrase|decrypt|bad decrypt/i.test(message) || pem.includes('ENCRYPTED')) {
      throw new ConfigError([`${names.password}: the key is encrypted and this password does not open it`]);
    }
    throw new ConfigError([`${names.path}: not a PEM private key (PKCS#1 or PKCS#8) nor a PKCS#12 file`]);
  }
}

export function pemCertificates(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block).raw.toString('base64'));
}

/** The algorithm a (public or private) key signs with; refuses what registries cannot verify. */
export function algorithmFor(key: KeyObject, requested: SigningAlgorithm | undefined, names: KeyOptionNames = SINGLE_KEY_NAMES): SigningAlgorithm {
  if (key.asymmetricKeyType === 'rsa') {
    if (requested !== undefined && !requested.startsWith('RS')) throw new ConfigError([`${names.algorithm}: ${requested} does not fit an RSA key`]);
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new ConfigError([`${names.path}: RSA keys must be at least 2048 bits`]);
    return requested ?? 'RS256';
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve === undefined) throw new ConfigError([`${names.path}: EC keys must be on P-256, P-384 or P-521`]);
    if (requested !== undefined && requested !== curve) throw new ConfigError([`${names.algorithm}: ${requested} does not fit this key's curve (use ${curve})`]);
    return curve;
  }
  // The registry (distribution 2.8) refuses EdDSA and PS*: see the shared registry facts.
  throw new ConfigError([`${names.path}: ${key.asymmetricKeyType ?? 'this'} keys are not accepted by registries; use RSA or EC`]);
}

/** The certificate's key must be the signing key: a registry would verify the chain, then fail on the signature. */
export function assertLeafMatches(x5c: readonly string[], publicKey: KeyObject, certificateKey: string): void {
  if (x5c.length === 0) return;
  const leaf = new X509Certificate(Buffer.from(x5c[0]!, 'base64'));
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new ConfigError([`${certificateKey}: the first certificate does not belong to the signing key`]);
  }
}

export function isPemText(raw: Buffer): boolean {
  return raw.subarray(0, 4096).toString('latin1').includes('-----BEGIN');
}

/** Certificates of a separate certificate file (replacing any found next to the key). */
export function readCertificateChain(path: string, key: string): string[] {
  const x5c = pemCertificates(readKeyFile(path, key).toString('utf8'));
  if (x5c.length === 0) throw new ConfigError([`${key}: holds no PEM certificate`]);
  return x5c;
}

export function loadSigningKey(options: SigningKeyOptions): SigningKey {
  const names = options.names ?? SINGLE_KEY_NAMES;
  const raw = readKeyFile(options.keyPath, names.path);
  let privateKey: KeyObject;
  let x5c: string[] = [];
  if (isPemText(raw)) {
    privateKey = fromPem(raw, options.keyPassword, names);
    x5c = pemCertificates(raw.toString('utf8'));
  } else {
    ({ key: privateKey, certificates: x5c } = fromPkcs12(raw, options.keyPassword, names));
  }
  if (options.certificatePath !== undefined) x5c = readCertificateChain(options.certificatePath, names.certificate);
  const publicKey = createPublicKey(privateKey);
  assertLeafMatches(x5c, publicKey, names.certificate);
  const algorithm = algorithmFor(privateKey, options.algorithm, names);
  return { privateKey, publicKey, algorithm, keyId: options.keyId ?? libtrustKeyId(publicKey), x5c };
}
