// POST /credentials: a registry credential for the caller's OpTok.
import { AUTHENTICATED, problems } from './problem.ts';

const fields = {
  type: 'object',
  additionalProperties: false,
  properties: {
    scope: {
      description: 'Narrowing: scopes with plan patterns, space-separated, or several fields.',
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 64 }],
    },
    expires_in: { description: 'Lifetime in seconds (credentials.min/maxLifetimeSeconds).', anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\d{1,10}$' }] },
    name: { type: 'string', description: 'A label for the ledger and audit.' },
  },
} as const;

export const CREDENTIAL_ANSWER = {
  $id: 'CredentialAnswer',
  type: 'object',
  required: ['credential', 'id', 'username', 'issued_at', 'expires_at', 'expires_in', 'scope'],
  additionalProperties: false,
  properties: {
    credential: { type: 'string', description: 'The secret: the password for `docker login`.' },
    id: { type: 'string', pattern: '^rtc_' },
    username: { type: 'string' },
    issued_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time' },
    expires_in: { type: 'integer', minimum: 0 },
    scope: { type: 'string', description: 'The normalised narrowing; empty: the whole plan.' },
    name: { type: 'string' },
  },
} as const;

export const POST_CREDENTIALS = {
  summary: 'Issue a registry credential to an OpTok (DPoP proof with htm POST, or mTLS)',
  tags: ['credentials'],
  security: [{ DPoP: [] }, { mutualTLS: [] }] as Record<string, string[]>[],
  body: { content: { 'application/x-www-form-urlencoded': { schema: fields }, 'application/json': { schema: fields } } },
  response: {
    201: { description: 'Credential issued and recorded.', content: { 'application/json': { schema: { $ref: 'CredentialAnswer#' } } } },
    ...problems(...AUTHENTICATED),
  },
} as const;
