// What `bundle verify` checks beyond digests for a credential bundle: the credentials list of
// the (already signature-checked) manifest matches the files, and every secret is a credential
// signed by a key of the given JWKS whose claims are the ones listed, so a secret swapped for
// another credential of the same service is named too.
import { compactVerify, createLocalJWKSet, type JWK } from 'jose';
import { z } from 'zod';
import { CREDENTIAL_ID, CREDENTIAL_TYPE, credentialClaims } from '../credentials/format.ts';
import { secretBytes, secretPath, SECRETS_DIR } from './credentials.ts';

const time = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
const entry = z.strictObject({
  id: z.string().regex(CREDENTIAL_ID),
  username: z.string(),
  subject: z.string(),
  tenant: z.string().optional(),
  plan: z.string().optional(),
  license: z.string().optional(),
  name: z.string().optional(),
  scopes: z.array(z.string()),
  notBefore: time,
  expiresAt: time,
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** A problem: `file` undefined names the manifest itself. */
export type CredentialProblem = { readonly file: string | undefined; readonly problem: string };

export interface CheckedManifest {
  readonly issuer: string;
  readonly files: readonly { readonly path: string; readonly sha256: string }[];
  readonly credentials?: unknown;
}

export async function checkCredentials(
  manifest: CheckedManifest,
  read: (path: string) => Promise<Buffer | undefined>,
  jwks: { keys: readonly JWK[] },
): Promise<CredentialProblem | undefined> {
  const parsed = z.array(entry).safeParse(manifest.credentials);
  if (!parsed.success) return { file: undefined, problem: 'its credentials list is not one of this format' };
  const digests = new Map(manifest.files.map((file) => [file.path, file.sha256]));
  const named = new Set<string>();
  for (const credential of parsed.data) {
    if (credential.file !== secretPath(credential.id)) return { file: undefined, problem: `credential ${credential.id} names file ${credential.file}, not ${secretPath(credential.id)}` };
    if (digests.get(credential.file) !== credential.sha256) return { file: undefined, problem: `credential ${credential.id}: its sha256 is not the one its file is listed with` };
    named.add(credential.file);
  }
  for (const path of digests.keys()) {
    if (path.startsWith(`${SECRETS_DIR}/`) && !named.has(path)) return { file: path, problem: 'a secret no credential of the manifest names' };
  }
  const keys = createLocalJWKSet({ keys: [...jwks.keys] });
  for (const credential of parsed.data) {
    const bytes = await read(credential.file);
    if (bytes === undefined) return { file: credential.file, problem: 'missing' };
    const secret = bytes.toString('latin1').replace(/\n$/, '');
    const fail = (problem: string): CredentialProblem => ({ file: credential.file, problem });
    if (!secretBytes(secret).equals(bytes)) return fail('not one credential and one final newline');
    let payload: Uint8Array;
    try {
      const verified = await compactVerify(secret, keys, { algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'] });
      if (verified.protectedHeader.typ !== CREDENTIAL_TYPE) return fail(`its typ is not ${CREDENTIAL_TYPE}`);
      payload = verified.payload;
    } catch {
      return fail('not a credential signed by a key of the given JWKS');
    }
    const claims = credentialClaims.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    if (!claims.success) return fail('its claims are not those of a registry credential');
    const c = claims.data;
    const seconds = (iso: string) => Date.parse(iso) / 1000;
    const mismatch =
      c.jti !== credential.id ? 'id'
      : c.sub !== credential.subject ? 'subject'
      : c.iss !== manifest.issuer ? 'issuer'
      : c.tenant !== credential.tenant ? 'tenant'
      : c.plan !== credential.plan ? 'plan'
      : c.license !== credential.license ? 'license'
      : c.name !== credential.name ? 'name'
      : (c.scope ?? '') !== credential.scopes.join(' ') ? 'scopes'
      : c.nbf !== seconds(credential.notBefore) ? 'notBefore'
      : c.exp !== seconds(credential.expiresAt) ? 'expiresAt'
      : undefined;
    if (mismatch !== undefined) return fail(`its ${mismatch} is not the one the manifest lists`);
  }
  return undefined;
}
