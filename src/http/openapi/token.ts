// GET /token, POST /token and HEAD /token: the Docker registry token endpoint.
import { ALWAYS, AUTHENTICATED, problems } from './problem.ts';

const repeated = (description: string) => ({
  description,
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
});

export const TOKEN_ANSWER = {
  $id: 'TokenAnswer',
  type: 'object',
  description: 'A registry token, in the shape Docker clients parse.',
  required: ['token', 'access_token', 'token_type', 'expires_in', 'issued_at', 'scope'],
  additionalProperties: false,
  properties: {
    token: { type: 'string', description: 'The registry JWT.' },
    access_token: { type: 'string', description: 'The same JWT (docker and ctr read it on POST).' },
    token_type: { const: 'Bearer' },
    expires_in: { type: 'integer', minimum: 60 },
    issued_at: { type: 'string', format: 'date-time' },
    scope: { type: 'string', description: 'The granted access, space-separated (may be empty).' },
    refresh_token: { type: 'string', description: 'With offline_token=true / access_type=offline and a registry credential: that same credential.' },
  },
} as const;

const tokenSecurity: Record<string, string[]>[] = [{ DPoP: [] }, { mutualTLS: [] }, { Basic: [] }];

export const GET_TOKEN = {
  summary: 'Exchange an OpTok (DPoP or mTLS) or a registry credential (Basic) for a registry token',
  tags: ['token'],
  security: tokenSecurity,
  querystring: {
    type: 'object',
    required: ['service'],
    properties: {
      service: { type: 'string', maxLength: 255, description: 'The registry service (registry.allowedServices).' },
      scope: repeated('`type:name:actions`, repeated for several resources.'),
      account: { type: 'string', description: 'Sent by Docker clients; the identity comes from the credentials, never from this.' },
      client_id: { type: 'string', maxLength: 255 },
      offline_token: { type: 'string', enum: ['true', 'false'], description: 'true: a credential used as password is returned as refresh_token.' },
    },
  },
  response: {
    200: { description: 'Token issued (access is the allowed subset of what was asked).', content: { 'application/json': { schema: { $ref: 'TokenAnswer#' } } } },
    ...problems(...AUTHENTICATED),
  },
} as const;

export const POST_TOKEN = {
  summary: 'OAuth 2 token request with a registry credential (grant_type refresh_token or password)',
  tags: ['token'],
  security: tokenSecurity,
  body: {
    content: {
      'application/x-www-form-urlencoded': {
        schema: {
          type: 'object',
          required: ['grant_type', 'service'],
          properties: {
            grant_type: { type: 'string', enum: ['refresh_token', 'password'] },
            refresh_token: { type: 'string', description: 'The registry credential (grant_type refresh_token).' },
            username: { type: 'string' },
            password: { type: 'string', description: 'The registry credential (grant_type password).' },
            client_id: { type: 'string' },
            service: { type: 'string' },
            scope: repeated('Scopes, space-separated in one field or one per field.'),
            access_type: { type: 'string', enum: ['offline', 'online'] },
          },
        },
      },
    },
  },
  response: {
    200: { description: 'Token issued.', content: { 'application/json': { schema: { $ref: 'TokenAnswer#' } } } },
    ...problems(...AUTHENTICATED),
  },
} as const;

export const HEAD_TOKEN = {
  summary: 'Not served: a HEAD would mint and record a token nobody receives',
  tags: ['token'],
  response: problems(...ALWAYS, 405, 429),
} as const;
