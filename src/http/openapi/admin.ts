// The admin API: runtime revocations and the issuance audit (src/http/routes/admin.ts).
import { REVOCATION_KINDS } from '../../record/ledger.ts';
import { AUTHENTICATED, problems } from './problem.ts';

const text = { type: 'string' } as const;
const optionalText = (description: string) => ({ type: 'string', description }) as const;

export const REVOCATION = {
  $id: 'Revocation',
  type: 'object',
  required: ['kind', 'value', 'reason', 'revokedAt'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: [...REVOCATION_KINDS] },
    value: text,
    tenant: optionalText('The tenant the revocation is keyed to (a tenant admin\'s, or ?tenant= of a platform admin); absent: every tenant.'),
    reason: text,
    revokedAt: { type: 'string', format: 'date-time' },
    revokedBy: optionalText('The operator subject.'),
  },
} as const;

const rootMethods = [
  { type: 'object', required: ['method', 'jkt'], additionalProperties: false, properties: { method: { const: 'dpop' }, jkt: text } },
  { type: 'object', required: ['method', 'x5t'], additionalProperties: false, properties: { method: { const: 'mtls' }, x5t: text } },
  { type: 'object', required: ['method'], additionalProperties: false, properties: { method: { const: 'none' } } },
] as const;

/** One ledger record (src/record/ledger.ts `IssuanceRecord`; docs/ledger.md). */
export const ISSUANCE_RECORD = {
  $id: 'IssuanceRecord',
  type: 'object',
  required: ['jti', 'outcome', 'issuedAt', 'requestedScopes', 'granted'],
  additionalProperties: false,
  properties: {
    jti: text,
    outcome: { type: 'string', enum: ['issued', 'rejected', 'refusals-summary'] },
    operation: { const: 'credential' },
    reason: optionalText('The reason code of a refusal.'),
    issuedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    subject: text,
    clientId: text,
    tenant: text,
    plan: text,
    license: text,
    service: text,
    requestedScopes: { type: 'array', items: text },
    granted: {
      type: 'array',
      items: { type: 'object', required: ['type', 'name', 'actions'], additionalProperties: false, properties: { type: text, name: text, actions: { type: 'array', items: text } } },
    },
    binding: {
      oneOf: [
        ...rootMethods,
        { type: 'object', required: ['method', 'id', 'root'], additionalProperties: false, properties: { method: { const: 'credential' }, id: text, root: { type: 'string', enum: ['dpop', 'mtls', 'none', 'operator'] }, presented: { type: 'string', enum: ['basic', 'refresh_token', 'password'] } } },
      ],
    },
    opTokenId: text,
    username: text,
    crossTenant: { type: 'array', items: text, description: 'Requested scopes refused because they name another tenant\'s namespace.' },
    quota: optionalText('The issuance quota that refused (reason quota_exceeded), e.g. "tenant alpha".'),
    issuedBy: optionalText('The operator who ordered a credential bundle.'),
    credentialName: text,
    remoteAddress: text,
    userAgent: text,
    requestId: text,
    traceId: { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'W3C trace id of the request (traceparent).' },
    truncated: { const: true },
    summary: {
      type: 'object',
      required: ['from', 'until', 'total', 'byReason', 'byAddress', 'otherAddresses'],
      additionalProperties: false,
      properties: {
        from: { type: 'string', format: 'date-time' },
        until: { type: 'string', format: 'date-time' },
        total: { type: 'integer' },
        byReason: { type: 'array', items: { type: 'object', required: ['reason', 'count'], additionalProperties: false, properties: { reason: text, count: { type: 'integer' } } } },
        byAddress: { type: 'array', items: { type: 'object', required: ['address', 'count'], additionalProperties: false, properties: { address: text, count: { type: 'integer' } } } },
        otherAddresses: { type: 'integer' },
      },
    },
  },
} as const;

const adminSecurity: Record<string, string[]>[] = [{ DPoP: [] }, { mutualTLS: [] }];
const valueParam = { type: 'object', required: ['value'], properties: { value: { type: 'string', maxLength: 255 } } } as const;
const tenantQuery = { type: 'object', properties: { tenant: { type: 'string', maxLength: 255, description: 'Platform admins: key the revocation to one tenant.' } } } as const;

export function putRevocation(what: string) {
  return {
    summary: `Revoke a ${what} at run time (every replica applies it within ledger.revocationPollSeconds)`,
    tags: ['admin'],
    security: adminSecurity,
    params: valueParam,
    querystring: tenantQuery,
    body: {
      content: {
        'application/json': { schema: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 } } } },
        'application/x-www-form-urlencoded': { schema: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 } } } },
      },
    },
    response: { 200: { description: 'Revoked.', content: { 'application/json': { schema: { $ref: 'Revocation#' } } } }, ...problems(...AUTHENTICATED, 404) },
  };
}

export function deleteRevocation(what: string) {
  return {
    summary: `Lift the runtime revocation of a ${what}`,
    tags: ['admin'],
    security: adminSecurity,
    params: valueParam,
    querystring: tenantQuery,
    response: { 204: { description: 'Lifted.', type: 'null' }, ...problems(...AUTHENTICATED, 404) },
  };
}

export const LIST_REVOCATIONS = {
  summary: 'Runtime revocations in force',
  tags: ['admin'],
  security: adminSecurity,
  response: {
    200: {
      description: 'Every runtime revocation (configured ones live in revokedLicenses).',
      content: { 'application/json': { schema: { type: 'object', required: ['revocations'], additionalProperties: false, properties: { revocations: { type: 'array', items: { $ref: 'Revocation#' } } } } } },
    },
    ...problems(...AUTHENTICATED),
  },
};

export const LIST_ISSUANCES = {
  summary: 'Ledger records, newest first, filtered',
  tags: ['admin'],
  security: adminSecurity,
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      subject: text,
      license: text,
      tenant: text,
      service: text,
      repository: text,
      outcome: { type: 'string', enum: ['issued', 'rejected', 'refusals-summary'] },
      operation: { type: 'string', enum: ['token', 'credential'] },
      since: { type: 'string', format: 'date-time' },
      until: { type: 'string', format: 'date-time' },
      limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
      cursor: text,
    },
  },
  response: {
    200: {
      description: 'One page of records; nextCursor fetches the next.',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['issuances', 'nextCursor'],
            additionalProperties: false,
            properties: { issuances: { type: 'array', items: { $ref: 'IssuanceRecord#' } }, nextCursor: { type: ['string', 'null'] } },
          },
        },
      },
    },
    ...problems(...AUTHENTICATED),
  },
};

export const GET_ISSUANCE = {
  summary: 'One ledger record by jti',
  tags: ['admin'],
  security: adminSecurity,
  params: { type: 'object', required: ['jti'], properties: { jti: { type: 'string', maxLength: 255 } } },
  response: { 200: { description: 'The record.', content: { 'application/json': { schema: { $ref: 'IssuanceRecord#' } } } }, ...problems(...AUTHENTICATED, 404) },
};

/** POST /admin/bundles/credentials (src/http/routes/credential-bundles.ts; docs/offline.md). */
export const POST_CREDENTIAL_BUNDLE = {
  summary: 'Issue a bundle of registry credentials for an offline site (each one recorded; the kit verifies with `bundle verify`)',
  tags: ['admin'],
  security: adminSecurity,
  // The route's zod schema names an unknown or bad field in its refusal; this documents the fields.
  body: {
    content: {
      'application/json': {
        schema: {
          type: 'object',
          properties: {
            subject: text,
            plan: text,
            license: text,
            tenant: optionalText('A tenant admin may name only its own tenant (default: its own).'),
            scope: { anyOf: [text, { type: 'array', items: text }], description: 'Narrowing scopes, plan patterns allowed.' },
            expires_in: { type: 'integer', minimum: 1, description: 'Seconds, up to credentials.bundleMaxLifetimeSeconds.' },
            count: { type: 'integer', minimum: 1 },
            names: { type: 'array', items: text },
            created: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
  response: {
    201: {
      description: 'The kit: every file byte for byte (base64) with its mode, and the manifest\'s credential list (no secrets outside files).',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['kind', 'created', 'signedBy', 'credentials', 'files'],
            additionalProperties: true,
            properties: {
              kind: { const: 'credentials' },
              created: { type: 'string', format: 'date-time' },
              signedBy: { type: 'object', additionalProperties: true, properties: { kid: text, alg: text } },
              credentials: { type: 'array', items: { type: 'object', additionalProperties: true } },
              files: {
                type: 'array',
                items: { type: 'object', required: ['path', 'mode', 'content'], additionalProperties: false, properties: { path: text, mode: { type: 'string', enum: ['0600', '0644'] }, content: text } },
              },
            },
          },
        },
      },
    },
    ...problems(...AUTHENTICATED, 404),
  },
};
