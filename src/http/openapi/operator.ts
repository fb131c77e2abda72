// Health probes, the JWKS, /metrics and this document itself.
import { ALWAYS, problems } from './problem.ts';

export const HEALTHZ = {
  summary: 'Liveness: the process serves',
  tags: ['operations'],
  response: {
    200: { description: 'Alive.', content: { 'application/json': { schema: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'ok' } } } } } },
    ...problems(...ALWAYS),
  },
} as const;

const readiness = {
  type: 'object',
  required: ['status', 'checks'],
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['ready', 'not ready'] },
    checks: { type: 'object', description: '`ok`, or why not, per check (authority, signing, ledger, revocations, store).', additionalProperties: { type: 'string' } },
    details: { type: 'object', additionalProperties: { type: 'object' } },
  },
} as const;

export const READYZ = {
  summary: 'Readiness: every dependency answers',
  tags: ['operations'],
  response: {
    200: { description: 'Ready.', content: { 'application/json': { schema: readiness } } },
    ...problems(...ALWAYS),
    // After the problems: not ready is a readiness answer, not a refusal.
    503: {
      description: 'Not ready: `checks` names what fails (a problem while the server closes).',
      content: { 'application/json': { schema: readiness }, 'application/problem+json': { schema: { $ref: 'Problem#' } } },
    },
  },
} as const;

export const JWKS = {
  summary: 'The public signing keys (current and published), for registries and credential checks',
  tags: ['operations'],
  response: {
    200: {
      description: 'JWK Set.',
      content: {
        'application/jwk-set+json': {
          schema: {
            type: 'object',
            required: ['keys'],
            properties: { keys: { type: 'array', items: { type: 'object', required: ['kty', 'kid'], properties: { kty: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string' }, use: { type: 'string' } } } } },
          },
        },
      },
    },
    ...problems(...ALWAYS),
  },
} as const;

export const METRICS = {
  summary: 'Prometheus metrics (text exposition 0.0.4); on telemetry.metricsPort instead when that is set',
  tags: ['operations'],
  response: { 200: { description: 'Exposition.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problems(...ALWAYS) },
} as const;

export const OPENAPI = {
  summary: 'This OpenAPI 3.1 document',
  tags: ['operations'],
  response: { 200: { description: 'The document.', content: { 'application/json': { schema: { type: 'object', required: ['openapi', 'paths'] } } } }, ...problems(...ALWAYS) },
} as const;
