/**
 * Real X.509 material for tests: a CA, server certificates (for running the
 * token service over HTTPS), client certificates (for mTLS and for binding
 * OpToks with `cnf["x5t#S256"]`), and self-signed certificates.
 *
 * Everything is generated in memory with @peculiar/x509 on Node's WebCrypto.
 * Keys are EC P-256 by default (fast); RSA 2048 on request.
 */
// @peculiar/x509 (through tsyringe) needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import { createHash, randomBytes, webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export type KeyType = 'ec' | 'rsa';

/** A certificate with its private key. */
export interface IssuedCertificate {
  /** PEM of the certificate alone. */
  readonly certPem: string;
  /** PKCS#8 PEM of the private key. */
  readonly keyPem: string;
  /** DER of the certificate. */
  readonly der: Buffer;
  /** PEM of the certificate followed by its issuer chain (just the cert when self-signed). */
  readonly chainPem: string;
  /** WebCrypto keys (extractable) of the certificate. */
  readonly keys: CryptoKeyPair;
  /** The @peculiar/x509 certificate object. */
  readonly certificate: x509.X509Certificate;
  /** Key type of the certificate's key. */
  readonly keyType: KeyType;
}

/** A certificate authority that can issue certificates. */
export interface CertificateAuthority extends IssuedCertificate {
  readonly name: string;
}

export interface KeyOptions {
  /** 'ec' (P-256, default) or 'rsa' (2048 bit). */
  keyType?: KeyType;
}

export interface ValidityOptions {
  /** Default: now - 1 minute. */
  notBefore?: Date;
  /** Default: notBefore + `days`. */
  notAfter?: Date;
  /** Validity in days when notAfter is not given. Default 30 (CA: 365). */
  days?: number;
}

export interface IssueOptions extends KeyOptions, ValidityOptions {
  commonName: string;
  /** DNS names and IP addresses for a server certificate, e.g. ['127.0.0.1', 'localhost']. Makes it a serverAuth certificate. */
  serverAltNames?: string[];
  /** Add the clientAuth extended key usage (a client certificate for mTLS). */
  clientAuth?: boolean;
}

export interface SelfSignedOptions extends IssueOptions {}

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const RSA_KEY: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const RSA_SIGN: webcrypto.Algorithm = { name: 'RSASSA-PKCS1-v1_5' };

function keyParams(keyType: KeyType): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams {
  return keyType === 'rsa' ? RSA_KEY : EC_KEY;
}

function signingAlgorithm(keyType: KeyType): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return keyType === 'rsa' ? RSA_SIGN : EC_SIGN;
}

async function generateKeys(keyType: KeyType): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyParams(keyType), true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

/** A random positive serial number (hex, 16 bytes, high bit clear). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return bytes.toString('hex');
}

function validity(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + (options.days ?? defaultDays) * 86_400_000);
  return { notBefore, notAfter };
}

function altNames(names: string[]): x509.JsonGeneralNames {
  return names.map((value) => (isIP(value) ? { type: 'ip' as const, value } : { type: 'dns' as const, value }));
}

function finish(
  certificate: x509.X509Certificate,
  keys: CryptoKeyPair,
  keyPem: string,
  keyType: KeyType,
  issuerChainPem: string,
): IssuedCertificate {
  const certPem = certificate.toString('pem') + '\n';
  return {
    certPem,
    keyPem: keyPem.endsWith('\n') ? keyPem : keyPem + '\n',
    der: Buffer.from(certificate.rawData),
    chainPem: certPem + issuerChainPem,
    keys,
    certificate,
    keyType,
  };
}

/** Creates a self-signed root CA (keyCertSign, cRLSign, basicConstraints CA:true). */
export async function createCa(name: string, options: KeyOptions & ValidityOptions = {}): Promise<CertificateAuthority> {
  const keyType = options.keyType ?? 'ec';
  const keys = await generateKeys(keyType);
  const subject: x509.JsonName = [{ CN: [name] }];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    issuer: subject,
    ...validity(options, 365),
    signingAlgorithm: signingAlgorithm(keyType),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, ...finish(certificate, keys, await privateKeyPem(keys), keyType, '') };
}

function leafExtensions(options: IssueOptions, keyType: KeyType): x509.Extension[] {
  let usages = x509.KeyUsageFlags.digitalSignature;
  if (keyType === 'rsa') usages |= x509.KeyUsageFlags.keyEncipherment;
  const eku: string[] = [];
  const server = options.serverAltNames !== undefined && options.serverAltNames.length > 0;
  if (server) eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (options.clientAuth) eku.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
  ];
  if (eku.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  if (server) extensions.push(new x509.SubjectAlternativeNameExtension(altNames(options.serverAltNames ?? []), false));
  return extensions;
}

/** Issues a leaf certificate signed by `ca`. Server certificate when `serverAltNames` is given, client certificate when `clientAuth`. */
export async function issueCertificate(ca: CertificateAuthority, options: IssueOptions): Promise<IssuedCertificate> {
  const keyType = options.keyType ?? 'ec';
  const keys = await generateKeys(keyType);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [options.commonName] }],
    issuer: ca.certificate.subjectName,
    ...validity(options, 30),
    signingAlgorithm: signingAlgorithm(ca.keyType),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      ...leafExtensions(options, keyType),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return finish(certificate, keys, await privateKeyPem(keys), keyType, ca.chainPem);
}

/** A self-signed leaf certificate (not a CA). */
export async function selfSigned(options: SelfSignedOptions): Promise<IssuedCertificate> {
  const keyType = options.keyType ?? 'ec';
  const keys = await generateKeys(keyType);
  const name: x509.JsonName = [{ CN: [options.commonName] }];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: name,
    issuer: name,
    ...validity(options, 30),
    signingAlgorithm: signingAlgorithm(keyType),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      ...leafExtensions(options, keyType),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return finish(certificate, keys, await privateKeyPem(keys), keyType, '');
}

/** DER bytes of a certificate given as PEM (first certificate of the text) or DER. */
export function certificateDer(certPemOrDer: string | Uint8Array): Buffer {
  if (typeof certPemOrDer !== 'string') return Buffer.from(certPemOrDer);
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certPemOrDer);
  if (!match?.[1]) throw new TypeError('no PEM certificate found');
  return Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
}

/** RFC 8705 certificate thumbprint: base64url(SHA-256(DER)) — the value of `cnf["x5t#S256"]`. */
export function x5tS256(certPemOrDer: string | Uint8Array): string {
  return createHash('sha256').update(certificateDer(certPemOrDer)).digest('base64url');
}

/** Node's own view of a certificate (for checks with node:crypto / node:tls). */
export function nodeCertificate(certPemOrDer: string | Uint8Array): NodeX509Certificate {
  return new NodeX509Certificate(certificateDer(certPemOrDer));
}
