// POST /credentials: a registry credential for the caller's OpTok (DPoP proof with htm POST and
// htu <publicUrl>/credentials, or mTLS), the secret Docker clients then use as a password.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { NonceSource } from '../../authenticate/dpop-nonce.ts';
import { MAX_NAME_LENGTH, rfc3339 } from '../../credentials/format.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { Pipeline } from '../../pipeline.ts';
import { credentialsOf, type CredentialOptions } from '../credentials.ts';
import { POST_CREDENTIALS } from '../openapi/credentials.ts';
import { contextOf } from './token.ts';

const text = z.string().max(16_384);
// A form sends strings; JSON may send a number. Either way a whole number of seconds.
const seconds = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d{1,10}$/).transform(Number),
], { error: 'must be a whole number of seconds' });

const body = z.strictObject({
  scope: z.union([text, z.array(text).max(64)]).optional(),
  expires_in: seconds.optional(),
  name: z
    .string()
    .max(MAX_NAME_LENGTH, { error: `must be at most ${MAX_NAME_LENGTH} characters` })
    // The label reaches the ledger and audit screens: printable text only.
    .regex(/^[^\p{Cc}]*$/u, { error: 'must not hold control characters' })
    .optional(),
});

function parseBody(value: unknown): z.infer<typeof body> {
  const result = body.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue?.code === 'unrecognized_keys') throw new InvalidRequestError('invalid_request', `unknown field ${issue.keys.join(', ')} (expected scope, expires_in, name)`);
  const where = issue === undefined || issue.path.length === 0 ? 'body' : String(issue.path[0]);
  throw new InvalidRequestError('invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
}

export function credentialRoutes(app: FastifyInstance, deps: { pipeline: Pipeline; credentials: CredentialOptions; nonces: NonceSource | undefined }): void {
  app.post('/credentials', { schema: POST_CREDENTIALS }, async (request, reply) => {
    const fields = parseBody(request.body);
    const scopes = fields.scope === undefined ? [] : Array.isArray(fields.scope) ? fields.scope : [fields.scope];
    const name = fields.name === undefined || fields.name === '' ? undefined : fields.name;
    const grant = await deps.pipeline.issueCredential({
      credentials: credentialsOf(request, deps.credentials),
      scopes,
      expiresIn: fields.expires_in,
      name,
      context: contextOf(request),
    });
    if (deps.nonces !== undefined) reply.header('dpop-nonce', deps.nonces.current());
    const { credential } = grant;
    return reply
      .code(201)
      .header('pragma', 'no-cache')
      .send({
        credential: credential.secret,
        id: credential.id,
        // `docker login -u`: any username is accepted (and recorded); the id is the natural one.
        username: credential.id,
        issued_at: rfc3339(credential.issuedAt),
        expires_at: rfc3339(credential.expiresAt),
        expires_in: credential.expiresIn,
        scope: grant.narrowing,
        ...(grant.name === undefined ? {} : { name: grant.name }),
      });
  });
}
