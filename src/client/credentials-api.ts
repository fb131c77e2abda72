// The token service side of a login: POST <base>/credentials with the OpTok and a DPoP proof
// (htm POST, htu <base>/credentials), answered 201 with a registry credential.
import { z } from 'zod';
import { ClientError } from './errors.ts';
import { dpopPost } from './dpop-post.ts';
import type { DpopKeys } from './dpop-key.ts';
import { endpoint } from './urls.ts';

export interface CredentialRequest {
  /** Docker scopes that narrow the credential; empty: the plan as it is. */
  scopes: readonly string[];
  expiresInSeconds?: number | undefined;
  name?: string | undefined;
}

const issuedSchema = z.object({
  credential: z.string().min(1),
  id: z.string().min(1),
  username: z.string().min(1),
  expires_at: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'not a date'),
  expires_in: z.number().int().optional(),
  scope: z.string().default(''),
  name: z.string().optional(),
});

/** What POST /credentials answers (docs/api.md). `credential` is the secret. */
export type IssuedCredential = z.infer<typeof issuedSchema>;

/** The one line a person can act on, from the service's Docker/problem body. */
async function refusal(response: Response): Promise<ClientError> {
  let message: string | undefined;
  let code: string | undefined;
  try {
    const body = (await response.json()) as { errors?: { message?: string }[]; detail?: string; code?: string; error_description?: string };
    message = body.errors?.[0]?.message ?? body.detail ?? body.error_description;
    code = body.code;
  } catch {
    // not JSON: the status says enough
  }
  const status = `${response.status}${code === undefined ? '' : ` ${code}`}`;
  const hint = response.status === 404 ? ': this token service does not issue registry credentials (is it older than this client?)' : '';
  return new ClientError(`the token service refused to issue a credential (${status})${message === undefined ? hint : `: ${message}`}`);
}

export async function requestCredential(base: URL, opTok: string, keys: DpopKeys, request: CredentialRequest): Promise<IssuedCredential> {
  const url = endpoint(base, 'credentials');
  const form = new URLSearchParams();
  if (request.scopes.length > 0) form.set('scope', request.scopes.join(' '));
  if (request.expiresInSeconds !== undefined) form.set('expires_in', String(request.expiresInSeconds));
  if (request.name !== undefined) form.set('name', request.name);
  const response = await dpopPost(url, opTok, keys, 'application/x-www-form-urlencoded', form.toString());
  if (response.status !== 201 && response.status !== 200) throw await refusal(response);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ClientError(`POST ${url.href} answered ${response.status} without a JSON body`);
  }
  const parsed = issuedSchema.safeParse(body);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(body)'))].join(', ');
    throw new ClientError(`POST ${url.href} answered ${response.status} without a usable credential (${fields})`);
  }
  return parsed.data;
}
