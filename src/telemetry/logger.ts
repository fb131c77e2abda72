// Logging: pino with redaction of every token-like field. Logs carry ids and hashes; a token,
// proof, key or credential header must never reach them, even when someone logs a whole
// object by mistake. Fastify's logger takes `redactPaths` so both loggers censor alike.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Headers that carry a credential or a client certificate. Node lowercases incoming names,
 * but header objects built by hand or for outgoing calls keep their capitals, and pino
 * matches case-sensitively, so the usual spellings are listed too.
 */
const SECRET_HEADERS = [
  'Authorization',
  'Proxy-Authorization',
  'DPoP',
  'Cookie',
  'Set-Cookie',
  'authorization',
  'proxy-authorization',
  'dpop',
  'cookie',
  'set-cookie',
  'ssl-client-cert',
  'x-forwarded-client-cert',
  'client-cert',
  'x-ssl-cert',
];

/** Field names that hold a secret wherever they appear. */
const SECRET_FIELDS = [
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'identitytoken',
  'registry_token',
  'opTok',
  'proof',
  'dpop',
  'password',
  'passphrase',
  'keyPassword',
  'client_secret',
  'clientSecret',
  'secret',
  'privateKey',
  'signingKey',
  'authorization',
  'Authorization',
  'cookie',
  'jwt',
];

const access = (name: string): string => (/^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `["${name}"]`);

/**
 * pino paths to censor. pino wildcards match one level only, so each field is listed at the
 * top level and under one or two parents (`err.token`, `claims.cnf.token`); the request and
 * reply header paths cover Fastify's `req`/`res` objects and `headers` logged on their own.
 */
export const redactPaths: readonly string[] = [
  ...['req.headers', 'request.headers', 'res.headers', 'reply.headers', 'headers'].flatMap((base) =>
    SECRET_HEADERS.map((header) => `${base}${access(header)}`),
  ),
  ...SECRET_FIELDS.flatMap((field) => [field, `*${access(field)}`, `*.*${access(field)}`]),
];

export const REDACTED = '[Redacted]';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Where lines go; stdout when omitted. Tests pass a collecting stream. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const config = {
    level: options.level,
    redact: { paths: [...redactPaths], censor: REDACTED },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/**
 * For the one line per exchange: it is built field by field from ids, never from a request or
 * an error, so it skips the wildcard paths (about 100 µs a line, more than minting a token
 * costs the main thread) and keeps only the top-level secret names as a net.
 */
export function decisionLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [...SECRET_FIELDS], censor: REDACTED } });
}
