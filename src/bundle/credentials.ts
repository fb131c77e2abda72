// The credential bundle: registry credentials an operator ordered for a named subject, for the
// mirror of an air-gapped site. Each secret is in its own 0600 file; the manifest lists ids,
// subjects, scopes, times and the SHA-256 of each secret file, never a secret. Its bytes are a
// function of the issued credentials and `created` alone (no clock, no host, no random), so
// the same issued set always gives the same bundle, whoever writes it (the CLI or the admin API).
import type { CredentialGrant, OrderedCredentialRequest, Pipeline } from '../pipeline.ts';
import { rfc3339 } from '../credentials/format.ts';
import { sha256Hex } from './detached-jws.ts';
import type { BundleFile, BundleInput } from './manifest.ts';

export const SECRETS_DIR = 'secrets';

/** One credential as the bundle lists it, with its secret (which only its own file holds). */
export interface BundledCredential {
  readonly id: string;
  readonly subject: string;
  readonly tenant: string | undefined;
  /** As the credential carries it; undefined: the default plan in force when it is used. */
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly name: string | undefined;
  /** The narrowing, normalised. */
  readonly scopes: readonly string[];
  /** RFC 3339, whole seconds, Z: the credential's `nbf` and `exp`. */
  readonly notBefore: string;
  readonly expiresAt: string;
  readonly secret: string;
}

export const secretPath = (id: string): string => `${SECRETS_DIR}/${id}`;

/** The secret file: the credential and one LF (`docker login --password-stdin` drops the LF). */
export const secretBytes = (secret: string): Buffer => Buffer.from(`${secret}\n`, 'ascii');

export function bundledCredential(grant: CredentialGrant): BundledCredential {
  const { credential, principal } = grant;
  return {
    id: credential.id,
    subject: principal.subject,
    tenant: principal.tenant,
    plan: principal.plan,
    license: principal.license,
    name: grant.name,
    scopes: grant.narrowing.split(' ').filter((scope) => scope !== ''),
    // `nbf` is the issue time in whole seconds, as the issuer writes it.
    notBefore: rfc3339(new Date(Math.floor(credential.issuedAt.getTime() / 1000) * 1000)),
    expiresAt: rfc3339(credential.expiresAt),
    secret: credential.secret,
  };
}

export interface CredentialBundleOptions {
  readonly credentials: readonly BundledCredential[];
  /** `signing.issuer`. */
  readonly issuer: string;
  readonly created: string;
}

export function credentialBundle(options: CredentialBundleOptions): BundleInput {
  // By id: a ULID, so issue order, and never the order a caller happened to pass them in.
  const credentials = [...options.credentials].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const files: BundleFile[] = credentials.map((c) => ({ path: secretPath(c.id), bytes: secretBytes(c.secret), mode: 0o600 }));
  const listed = credentials.map((c, index) => ({
    id: c.id,
    // Any username is accepted with a credential; the id is the one audit screens show.
    username: c.id,
    subject: c.subject,
    tenant: c.tenant,
    plan: c.plan,
    license: c.license,
    name: c.name,
    scopes: [...c.scopes],
    notBefore: c.notBefore,
    expiresAt: c.expiresAt,
    file: files[index]!.path,
    sha256: sha256Hex(files[index]!.bytes),
  }));
  // canonicalJson (manifest.ts) drops undefined members: an absent tenant is absent, not null.
  return { kind: 'credentials', created: options.created, issuer: options.issuer, files, extra: { credentials: listed } };
}

/** Issues the ordered credentials (each recorded in the ledger) and lays them out as a bundle. */
export async function orderCredentialBundle(
  pipeline: Pick<Pipeline, 'issueOrderedCredentials'>,
  request: OrderedCredentialRequest,
  bundle: { issuer: string; created: string },
): Promise<BundleInput> {
  const grants = await pipeline.issueOrderedCredentials(request);
  return credentialBundle({ credentials: grants.map(bundledCredential), ...bundle });
}
