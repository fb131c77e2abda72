// POST /admin/bundles/credentials: the Offline Kit credential bundle for an export pipeline.
// The admin API's own operator check (admin.ts) authenticates; the answer holds every file of
// the bundle, byte for byte what `registry-token bundle credentials` writes for the same issued
// credentials, so the pipeline writes them out and `bundle verify` checks them as any other kit.
import type { AdminPrincipal } from '../../admin/access.ts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { answeredFiles } from '../../bundle/answer.ts';
import { bundleTime } from '../../bundle/canonical.ts';
import { MAX_NAME_LENGTH } from '../../credentials/format.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { Clock, Principal } from '../../domain/types.ts';
import type { SigningKey } from '../../mint/signing-key.ts';
import type { Pipeline } from '../../pipeline.ts';
import { POST_CREDENTIAL_BUNDLE } from '../openapi/admin.ts';
import { contextOf } from './token.ts';

/** At most this many credentials per bundle: each is a signature and a ledger write. */
export const MAX_BUNDLE_CREDENTIALS = 100;

const label = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH, { error: `must be at most ${MAX_NAME_LENGTH} characters` })
  .regex(/^[^\p{Cc}]*$/u, { error: 'must not hold control characters' });
const id = z.string().trim().min(1).max(255);

const body = z
  .strictObject({
    subject: id,
    plan: id.optional(),
    license: id.optional(),
    tenant: id.optional(),
    scope: z.union([z.string().max(16_384), z.array(z.string().max(16_384)).max(64)]),
    expires_in: z.number().int().positive(),
    count: z.number().int().min(1).max(MAX_BUNDLE_CREDENTIALS).optional(),
    names: z.array(label).min(1).max(MAX_BUNDLE_CREDENTIALS).optional(),
    created: z.string().max(64).optional(),
  })
  .refine((value) => value.count === undefined || value.names === undefined || value.count === value.names.length, {
    error: 'count and names disagree: give names (one credential each) or count',
    path: ['count'],
  });

export type CredentialBundleBody = z.infer<typeof body>;

function parseBody(value: unknown): CredentialBundleBody {
  const result = body.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    throw new InvalidRequestError('invalid_request', `unknown field ${issue.keys.join(', ')} (expected subject, plan, license, tenant, scope, expires_in, count, names, created)`);
  }
  const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
  throw new InvalidRequestError('invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
}

export interface CredentialBundleDeps {
  readonly pipeline: Pipeline;
  /** The admin API's operator check: the one place admin authentication (and its scoping) lives. */
  readonly operator: (request: FastifyRequest) => Promise<AdminPrincipal>;
  /** The active signing key, which signs the manifest. */
  readonly signingKey: () => SigningKey;
  /** `signing.issuer`. */
  readonly issuer: string;
  readonly clock: Clock;
}

export function credentialBundleRoutes(app: FastifyInstance, deps: CredentialBundleDeps): void {
  app.post('/admin/bundles/credentials', { schema: POST_CREDENTIAL_BUNDLE }, async (request, reply) => {
    const who = await deps.operator(request);
    const fields = parseBody(request.body);
    // A tenant admin orders credentials for its own tenant only (named or not); a platform admin for any.
    const tenant = who.access.platform ? fields.tenant : who.access.revocationTenant(fields.tenant);
    let created: string;
    try {
      created = bundleTime(fields.created, {}, deps.clock);
    } catch (error) {
      throw new InvalidRequestError('invalid_request', (error as Error).message.replace('--created', 'created'));
    }
    const key = deps.signingKey();
    // Loaded on the first order: the bundle's signer brings @noble/curves, ~35 ms of every
    // worker's start for a route few deployments call (docs/performance.md).
    const [{ orderCredentialBundle }, { bundleFiles, MANIFEST }] = await Promise.all([import('../../bundle/credentials.ts'), import('../../bundle/manifest.ts')]);
    const input = await orderCredentialBundle(
      deps.pipeline,
      {
        orderedBy: who.subject,
        subject: fields.subject,
        plan: fields.plan,
        license: fields.license,
        tenant,
        scopes: Array.isArray(fields.scope) ? fields.scope : [fields.scope],
        expiresIn: fields.expires_in,
        names: fields.names ?? Array.from({ length: fields.count ?? 1 }, () => undefined),
        context: contextOf(request),
      },
      { issuer: deps.issuer, created },
    );
    const files = bundleFiles(input, key);
    const manifest = JSON.parse(files.find((file) => file.path === MANIFEST)!.bytes.toString('utf8')) as { credentials: unknown };
    request.log.info({ orderedBy: who.subject, subject: fields.subject, credentials: (input.extra?.['credentials'] as { id: string }[]).map((c) => c.id) }, 'credential bundle issued');
    return reply
      .code(201)
      .header('pragma', 'no-cache')
      .send({
        kind: 'credentials',
        created,
        signedBy: { kid: key.keyId, alg: key.algorithm },
        credentials: manifest.credentials,
        files: answeredFiles(files),
      });
  });
}
