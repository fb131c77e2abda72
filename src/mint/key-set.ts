// The signing key set: one active key that signs, every configured key published (JWKS, trust
// bundles) so tokens signed before a switch keep verifying until they expire. One `kid` per key,
// the same in the token header, the JWKS entry and (as the libtrust id of the certificate's key)
// what distribution 2.x derives from its rootcertbundle; `x5c` from the key's certificate.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';
import { ConfigError } from '../domain/errors.ts';
import { libtrustKeyId } from './key-id.ts';
import {
  algorithmFor,
  assertLeafMatches,
  isPemText,
  loadSigningKey,
  pemCertificates,
  readCertificateChain,
  readKeyFile,
  type KeyOptionNames,
  type SigningAlgorithm,
  type SigningKey,
} from './signing-key.ts';

/** One entry of `signing.keys`. */
export interface KeyEntryOptions {
  readonly id?: string | undefined;
  readonly path: string;
  /** Name of the environment variable holding the passphrase (PEM) or password (PKCS#12). */
  readonly passwordEnv?: string | undefined;
  readonly certificatePath?: string | undefined;
  readonly algorithm?: SigningAlgorithm | undefined;
}

/** The `signing` settings the key set reads: the single-key form or `keys` + `activeKeyId`. */
export interface KeySetOptions {
  readonly keyPath?: string | undefined;
  readonly keyPassword?: string | undefined;
  readonly certificatePath?: string | undefined;
  readonly keyId?: string | undefined;
  readonly algorithm?: SigningAlgorithm | undefined;
  readonly keys?: readonly KeyEntryOptions[] | undefined;
  readonly activeKeyId?: string | undefined;
  /** Deprecated: public keys only published. Read for one more release. */
  readonly previousKeyPaths?: readonly string[] | undefined;
}

export interface PublishedKey {
  readonly kid: string;
  /** Absent only for a deprecated `previousKeyPaths` entry, whose algorithm nobody stated. */
  readonly algorithm: SigningAlgorithm | undefined;
  readonly publicKey: KeyObject;
  /** Base64 DER certificates, leaf first; empty without a certificate. */
  readonly x5c: readonly string[];
  /** Whether the private key is configured (it could be made active). */
  readonly canSign: boolean;
  /** The configuration key it came from, for messages (`signing.keys[1]`). */
  readonly source: string;
}

export interface KeySet {
  /** The key that signs now. */
  readonly active: SigningKey;
  /** Every key verifiers should trust: the active one first, then in configuration order. */
  readonly published: readonly PublishedKey[];
  /** `/.well-known/jwks.json`: the published keys, public parts only. */
  readonly jwks: JSONWebKeySet;
  /** Advice for the start-up and reload logs (deprecations). */
  readonly warnings: readonly string[];
}

export const PREVIOUS_KEY_PATHS_DEPRECATION =
  'signing.previousKeyPaths is deprecated and will be removed in the next release: list every key under signing.keys (a certificate or public key there is published only) and name the signing one in signing.activeKeyId';

/** A JWKS entry: exactly the fields verifiers use, never a private member. */
export function jwkOf(key: Pick<PublishedKey, 'kid' | 'algorithm' | 'publicKey' | 'x5c'>): JWK {
  const exported = key.publicKey.export({ format: 'jwk' }) as JWK;
  const publicPart: JWK =
    exported.kty === 'EC' ? { kty: 'EC', crv: exported.crv!, x: exported.x!, y: exported.y! } : { kty: 'RSA', n: exported.n!, e: exported.e! };
  return {
    ...publicPart,
    kid: key.kid,
    use: 'sig',
    ...(key.algorithm === undefined ? {} : { alg: key.algorithm }),
    ...(key.x5c.length === 0 ? {} : { x5c: [...key.x5c] }),
  };
}

/** A certificate (chain) or a public key: published, never signing. */
function publicOnly(path: string, names: KeyOptionNames, what: string): { publicKey: KeyObject; x5c: string[] } {
  const text = readKeyFile(path, names.path).toString('utf8');
  try {
    const x5c = pemCertificates(text);
    if (x5c.length > 0) return { publicKey: new X509Certificate(Buffer.from(x5c[0]!, 'base64')).publicKey, x5c };
    return { publicKey: createPublicKey(text), x5c: [] };
  } catch {
    throw new ConfigError([`${names.path}: ${path} is ${what}`]);
  }
}

function holdsPrivateKey(raw: Buffer): boolean {
  // PKCS#12 is binary; a PEM file holds a private key when it has a PRIVATE KEY block.
  return !isPemText(raw) || /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(raw.toString('latin1'));
}

interface Loaded extends PublishedKey {
  readonly signing: SigningKey | undefined;
}

function entryNames(index: number): KeyOptionNames {
  const at = `signing.keys[${index}]`;
  return { path: `${at}.path`, password: `${at}.passwordEnv`, certificate: `${at}.certificatePath`, algorithm: `${at}.algorithm` };
}

function loadEntry(entry: KeyEntryOptions, index: number, env: NodeJS.ProcessEnv): Loaded {
  const names = entryNames(index);
  const source = `signing.keys[${index}]`;
  let password: string | undefined;
  if (entry.passwordEnv !== undefined) {
    password = env[entry.passwordEnv];
    if (password === undefined) throw new ConfigError([`${names.password}: the environment variable ${entry.passwordEnv} is not set`]);
  }
  if (holdsPrivateKey(readKeyFile(entry.path, names.path))) {
    const signing = loadSigningKey({
      keyPath: entry.path,
      keyPassword: password,
      certificatePath: entry.certificatePath,
      keyId: entry.id,
      algorithm: entry.algorithm,
      names,
    });
    return { kid: signing.keyId, algorithm: signing.algorithm, publicKey: signing.publicKey, x5c: signing.x5c, canSign: true, source, signing };
  }
  let { publicKey, x5c } = publicOnly(entry.path, names, 'neither a private key, a PKCS#12 file, a PEM certificate nor a PEM public key');
  if (entry.certificatePath !== undefined) x5c = readCertificateChain(entry.certificatePath, names.certificate);
  assertLeafMatches(x5c, publicKey, names.certificate);
  const algorithm = algorithmFor(publicKey, entry.algorithm, names);
  return { kid: entry.id ?? libtrustKeyId(publicKey), algorithm, publicKey, x5c, canSign: false, source, signing: undefined };
}

function loadPrevious(path: string, index: number): Loaded {
  const names = { ...entryNames(index), path: 'signing.previousKeyPaths' };
  const { publicKey, x5c } = publicOnly(path, names, 'neither a PEM certificate nor a PEM public key');
  return { kid: libtrustKeyId(publicKey), algorithm: undefined, publicKey, x5c, canSign: false, source: `signing.previousKeyPaths[${index}]`, signing: undefined };
}

const spki = (key: KeyObject): string => key.export({ type: 'spki', format: 'der' }).toString('base64');

/** Reads every configured key; throws ConfigError naming the key to fix. Synchronous: a reload swaps it whole. */
export function loadKeySet(options: KeySetOptions, env: NodeJS.ProcessEnv = process.env): KeySet {
  const warnings: string[] = [];
  let loaded: Loaded[];
  let activeKid: string;
  if (options.keys === undefined) {
    if (options.keyPath === undefined) throw new ConfigError(['signing.keys: is required (or signing.keyPath for a single key)']);
    const signing = loadSigningKey({ ...options, keyPath: options.keyPath });
    loaded = [{ kid: signing.keyId, algorithm: signing.algorithm, publicKey: signing.publicKey, x5c: signing.x5c, canSign: true, source: 'signing.keyPath', signing }];
    activeKid = signing.keyId;
  } else {
    loaded = options.keys.map((entry, index) => loadEntry(entry, index, env));
    const signers = loaded.filter((key) => key.canSign);
    if (options.activeKeyId === undefined) {
      if (loaded.length !== 1 || signers.length !== 1) {
        throw new ConfigError(['signing.activeKeyId: is required when signing.keys lists more than one key (or only public ones)']);
      }
      activeKid = signers[0]!.kid;
    } else activeKid = options.activeKeyId;
  }
  (options.previousKeyPaths ?? []).forEach((path, index) => loaded.push(loadPrevious(path, index)));
  if ((options.previousKeyPaths ?? []).length > 0) warnings.push(PREVIOUS_KEY_PATHS_DEPRECATION);

  const byKid = new Map<string, Loaded>();
  const byKey = new Map<string, Loaded>();
  for (const key of loaded) {
    const sameKid = byKid.get(key.kid);
    if (sameKid !== undefined) throw new ConfigError([`${key.source}: kid "${key.kid}" is already the kid of ${sameKid.source}; every key needs its own`]);
    const sameKey = byKey.get(spki(key.publicKey));
    if (sameKey !== undefined) throw new ConfigError([`${key.source}: the same key as ${sameKey.source}; list each key once`]);
    byKid.set(key.kid, key);
    byKey.set(spki(key.publicKey), key);
  }
  const active = byKid.get(activeKid);
  if (active === undefined) {
    throw new ConfigError([`signing.activeKeyId: "${activeKid}" names no key of signing.keys (their kids: ${loaded.map((k) => k.kid).join(', ')})`]);
  }
  if (active.signing === undefined) {
    throw new ConfigError([`signing.activeKeyId: ${active.source} holds no private key (a certificate or public key is only published)`]);
  }
  const published: PublishedKey[] = [active, ...loaded.filter((key) => key !== active)].map(
    ({ kid, algorithm, publicKey, x5c, canSign, source }) => ({ kid, algorithm, publicKey, x5c, canSign, source }),
  );
  return { active: active.signing, published, jwks: { keys: published.map(jwkOf) }, warnings };
}
