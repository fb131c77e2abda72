// Loads the registry-token signing key once at start-up: PEM (PKCS#1 or PKCS#8, optionally
// encrypted) or PFX/PKCS#12, plus an optional certificate chain for the `x5c` header.
import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
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
}

const CURVE_ALGORITHM: Record<string, SigningAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

function read(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([`${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

// Node's crypto cannot open PKCS#12; node-forge is the maintained JS reader for it.
function fromPkcs12(der: Buffer, password: string | undefined): { key: KeyObject; certificates: string[] } {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), password ?? '');
  } catch {
    throw new ConfigError(['signing.keyPath: cannot open the PKCS#12 file (wrong signing.keyPassword, or not a PFX)']);
  }
  const bags = (type: string): forge.pkcs12.Bag[] => p12.getBags({ bagType: type })[type] ?? [];
  const oids = forge.pki.oids as Record<string, string>;
  const keyBags = [...bags(oids.pkcs8ShroudedKeyBag!), ...bags(oids.keyBag!)];
  // forge leaves `key`/`cert` null (not undefined) for material it does not model (EC).
  const keyBag = keyBags.find((bag) => bag.key != null || bag.asn1 !== undefined);
  if (keyBag === undefined) throw new ConfigError(['signing.keyPath: the PKCS#12 file holds no private key']);
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

function fromPem(pem: Buffer, password: string | undefined): KeyObject {
  try {
    return createPrivateKey(password === undefined ? { key: pem } : { key: pem, passphrase: password });
  } catch (error) {
    const message = (error as Error).message;
    if (/passphrase|decrypt|bad decrypt/i.test(message) || pem.includes('ENCRYPTED')) {
      throw new ConfigError(['signing.keyPassword: the key is encrypted and this password does not open it']);
    }
    throw new ConfigError(['signing.keyPath: not a PEM private key (PKCS#1 or PKCS#8) nor a PKCS#12 file']);
  }
}

function pemCertificates(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block).raw.toString('base64'));
}

function algorithmFor(key: KeyObject, requested: SigningAlgorithm | undefined): SigningAlgorithm {
  if (key.asymmetricKeyType === 'rsa') {
    if (requested !== undefined && !requested.startsWith('RS')) throw new ConfigError([`signing.algorithm: ${requested} does not fit an RSA key`]);
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new ConfigError(['signing.keyPath: RSA keys must be at least 2048 bits']);
    return requested ?? 'RS256';
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve === undefined) throw new ConfigError(['signing.keyPath: EC keys must be on P-256, P-384 or P-521']);
    if (requested !== undefined && requested !== curve) throw new ConfigError([`signing.algorithm: ${requested} does not fit this key's curve (use ${curve})`]);
    return curve;
  }
  // The registry (distribution 2.8) refuses EdDSA and PS*: see the shared registry facts.
  throw new ConfigError([`signing.keyPath: ${key.asymmetricKeyType ?? 'this'} keys are not accepted by registries; use RSA or EC`]);
}

export function loadSigningKey(options: SigningKeyOptions): SigningKey {
  const raw = read(options.keyPath, 'signing.keyPath');
  const isPem = raw.subarray(0, 4096).toString('latin1').includes('-----BEGIN');
  let privateKey: KeyObject;
  let x5c: string[] = [];
  if (isPem) {
    privateKey = fromPem(raw, options.keyPassword);
    x5c = pemCertificates(raw.toString('utf8'));
  } else {
    ({ key: privateKey, certificates: x5c } = fromPkcs12(raw, options.keyPassword));
  }
  if (options.certificatePath !== undefined) {
    x5c = pemCertificates(read(options.certificatePath, 'signing.certificatePath').toString('utf8'));
    if (x5c.length === 0) throw new ConfigError(['signing.certificatePath: holds no PEM certificate']);
  }
  const publicKey = createPublicKey(privateKey);
  if (x5c.length > 0) {
    const leaf = new X509Certificate(Buffer.from(x5c[0]!, 'base64'));
    if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new ConfigError(['signing.certificatePath: the first certificate does not belong to the signing key']);
    }
  }
  const algorithm = algorithmFor(privateKey, options.algorithm);
  return { privateKey, publicKey, algorithm, keyId: options.keyId ?? libtrustKeyId(publicKey), x5c };
}
