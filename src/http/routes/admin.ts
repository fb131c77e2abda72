// The admin API: runtime revocations and the issuance audit. Every call carries an OpTok with
// the admin scope, under the same DPoP / mTLS checks as /token. What the caller may see and do
// (platform, or one tenant) is the AdminAccess the pipeline hands back: src/admin/access.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import type { AdminPrincipal } from '../../admin/access.ts';
import type { Pipeline } from '../../pipeline.ts';
import { CREDENTIAL_ID } from '../../credentials/format.ts';
import type { Ledger, RevocationKind } from '../../record/ledger.ts';
import type { RevocationStore } from '../../store/store.ts';
import { credentialsOf, type CredentialOptions } from '../credentials.ts';
import { deleteRevocation, GET_ISSUANCE, LIST_ISSUANCES, LIST_REVOCATIONS, putRevocation } from '../openapi/admin.ts';
import { credentialBundleRoutes, type CredentialBundleDeps } from './credential-bundles.ts';

export const MAX_PAGE = 500;

const auditQuery = z.strictObject({
  subject: z.string().max(255).optional(),
  license: z.string().max(255).optional(),
  tenant: z.string().max(255).optional(),
  service: z.string().max(255).optional(),
  repository: z.string().max(255).optional(),
  outcome: z.enum(['issued', 'rejected', 'refusals-summary']).optional(),
  operation: z.enum(['token', 'credential']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
  cursor: z.string().max(1024).optional(),
});

const revocationBody = z.strictObject({ reason: z.string().trim().min(1).max(1000) });
/** `?tenant=`: the tenant a platform admin's revocation is keyed by (a tenant admin's is its own). */
const revocationQuery = z.strictObject({ tenant: z.string().min(1).max(255).optional() });

function invalid(error: z.ZodError): InvalidRequestError {
  const issue = error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? 'request' : issue.path.join('.');
  const message = issue?.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.join(', ')}` : issue?.message ?? 'invalid';
  return new InvalidRequestError('invalid_request', `${where}: ${message}`);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalid(result.error);
  return result.data;
}

export interface AdminDeps {
  pipeline: Pipeline;
  ledger: Ledger;
  /** Where runtime revocations live (the shared store's; the ledger's with the memory driver). */
  revocations: RevocationStore;
  credentials: CredentialOptions;
  /** Called after a change so this replica applies it at once (others poll). */
  onRevocationChange: () => Promise<void>;
  /** Offline Kit credential bundles (POST /admin/bundles/credentials); absent: credentials disabled. */
  bundles?: Omit<CredentialBundleDeps, 'pipeline' | 'operator'> | undefined;
}

export function adminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { ledger, revocations } = deps;
  const operator = (request: FastifyRequest): Promise<AdminPrincipal> => deps.pipeline.authenticateAdmin(credentialsOf(request, deps.credentials));

  /** The tenant (kind, value) is keyed by for this admin; checks what the kind needs first. */
  const scopeOf = async (who: AdminPrincipal, kind: RevocationKind, value: string, query: unknown): Promise<string | undefined> => {
    const requested = parse(revocationQuery, query).tenant;
    if (kind === 'tenant') {
      who.access.requirePlatform('revoking a whole tenant');
      if (requested !== undefined) throw new InvalidRequestError('invalid_request', 'a tenant revocation is platform-wide: leave out ?tenant=');
      return undefined;
    }
    const tenant = who.access.revocationTenant(requested);
    // A tenant admin revokes only credentials issued to its tenant (the ledger knows whose).
    if (kind === 'credential' && !who.access.platform) {
      const record = await ledger.get(value);
      if (record?.operation !== 'credential' || record.tenant !== tenant) throw new NotFoundError(`no registry credential ${value} of tenant "${tenant}"`);
    }
    return tenant;
  };

  const revocationRoutes = (prefix: string, kind: RevocationKind) => {
    app.put(`${prefix}/:value`, { schema: putRevocation(kind) }, async (request, reply) => {
      const who = await operator(request);
      const { value } = request.params as { value: string };
      // A typo would revoke nothing and look like success.
      if (kind === 'credential' && !CREDENTIAL_ID.test(value)) {
        throw new InvalidRequestError('invalid_request', `"${value}" is not a registry credential id (rtc_ and 26 characters, as POST /credentials answered)`);
      }
      const { reason } = parse(revocationBody, request.body);
      const tenant = await scopeOf(who, kind, value, request.query);
      const revocation = { kind, value, ...(tenant === undefined ? {} : { tenant }), reason, revokedAt: new Date().toISOString(), revokedBy: who.subject };
      await revocations.put(revocation);
      await deps.onRevocationChange();
      request.log.info({ kind, value, tenant, revokedBy: who.subject, reason }, 'revocation added');
      return reply.code(200).send(revocation);
    });
    app.delete(`${prefix}/:value`, { schema: deleteRevocation(kind) }, async (request, reply) => {
      const who = await operator(request);
      const { value } = request.params as { value: string };
      const tenant = await scopeOf(who, kind, value, request.query);
      const where = tenant === undefined ? '' : ` in tenant "${tenant}"`;
      if (!(await revocations.delete(kind, value, tenant))) throw new NotFoundError(`no runtime revocation for ${kind} "${value}"${where}`);
      await deps.onRevocationChange();
      request.log.info({ kind, value, tenant, by: who.subject }, 'revocation removed');
      return reply.code(204).send();
    });
  };
  // Subjects, credentials and tenants first: the static segment must win over a licence of that name.
  revocationRoutes('/admin/revocations/subjects', 'subject');
  revocationRoutes('/admin/revocations/credentials', 'credential');
  revocationRoutes('/admin/revocations/tenants', 'tenant');
  revocationRoutes('/admin/revocations', 'license');

  if (deps.bundles !== undefined) credentialBundleRoutes(app, { ...deps.bundles, pipeline: deps.pipeline, operator });

  app.get('/admin/revocations', { schema: LIST_REVOCATIONS }, async (request) => {
    const who = await operator(request);
    return { revocations: (await revocations.list()).filter((r) => who.access.sees(r)) };
  });

  app.get('/admin/issuances', { schema: LIST_ISSUANCES }, async (request) => {
    const who = await operator(request);
    const query = parse(auditQuery, request.query);
    const page = await ledger.query({
      ...query,
      tenant: who.access.auditTenant(query.tenant),
      since: query.since === undefined ? undefined : new Date(query.since),
      until: query.until === undefined ? undefined : new Date(query.until),
    } as Parameters<Ledger['query']>[0]);
    return { issuances: page.records, nextCursor: page.nextCursor ?? null };
  });

  app.get('/admin/issuances/:jti', { schema: GET_ISSUANCE }, async (request) => {
    const who = await operator(request);
    const { jti } = request.params as { jti: string };
    const record = await ledger.get(jti);
    if (record === undefined) throw new NotFoundError(`no issuance with jti "${jti}"`);
    who.access.assertSees(record, `issuance with jti "${jti}"`);
    return record;
  });
}
