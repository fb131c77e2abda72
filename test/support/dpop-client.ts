// Client side of DPoP for tests: the real client library (oauth4webapi) for ordinary calls,
// and jose for deliberately broken proofs.
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import type { Problem } from '../../src/http/errors.ts';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { request as nodeHttpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as nodeHttpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { expect } from 'vitest';
import { problemSchemaErrors, undocumented } from './openapi.ts';

export type KeyPair = webcrypto.CryptoKeyPair;

export async function newDpopKeys(alg: 'ES256' | 'RS256' = 'ES256'): Promise<KeyPair> {
  return (await generateKeyPair(alg, { extractable: true })) as KeyPair;
}

/** A GET with an oauth4webapi-made proof: exactly what a conforming client sends. */
export async function dpopGet(url: string, accessToken: string, keys: KeyPair): Promise<Response> {
  const handle = oauth.DPoP({}, keys);
  try {
    return await oauth.protectedResourceRequest(accessToken, 'GET', new URL(url), new Headers(), null, {
      DPoP: handle,
      [oauth.allowInsecureRequests]: true,
    });
  } catch (error) {
    // oauth4webapi throws on any WWW-Authenticate challenge; tests want the response itself.
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response;
    throw error;
  }
}

export interface ProofOverrides {
  htm?: string;
  htu?: string;
  iat?: number;
  jti?: string;
  ath?: string | null;
  typ?: string;
  nonce?: string;
  /** Sign with these keys but put another public key in the header. */
  headerJwkFrom?: KeyPair;
}

/** A proof made by hand with jose, for tests that need one field wrong. */
export async function makeProof(keys: KeyPair, method: string, url: string, accessToken: string, overrides: ProofOverrides = {}): Promise<string> {
  const jwk = await exportJWK((overrides.headerJwkFrom ?? keys).publicKey);
  const target = new URL(url);
  const payload: Record<string, unknown> = {
    htm: overrides.htm ?? method,
    htu: overrides.htu ?? `${target.origin}${target.pathname}`,
    jti: overrides.jti ?? randomUUID(),
    iat: overrides.iat ?? Math.floor(Date.now() / 1000),
  };
  if (overrides.ath !== null) payload.ath = overrides.ath ?? createHash('sha256').update(accessToken).digest('base64url');
  if (overrides.nonce !== undefined) payload.nonce = overrides.nonce;
  const alg = (keys.privateKey.algorithm as { name: string }).name === 'ECDSA' ? 'ES256' : 'RS256';
  return new SignJWT(payload).setProtectedHeader({ alg, typ: overrides.typ ?? 'dpop+jwt', jwk }).sign(keys.privateKey);
}

export function tokenUrl(base: string, params: { service?: string; scope?: string[]; [key: string]: unknown } = {}): string {
  const url = new URL('/token', base);
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) url.searchParams.append(key, String(item));
  }
  return url.toString();
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

// ---------------------------------------------------------------------------------------------
// Requests that never throw on a status, and problem assertions (HTTP integration tests).


export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RawRequestOptions {
  method?: string;
  /** Sent exactly as given, in order, duplicates included. A Host header is added when absent. */
  headers?: readonly (readonly [string, string])[];
  body?: string;
  /** For https URLs: trust anchors and the client certificate. */
  tls?: Pick<HttpsRequestOptions, 'ca' | 'cert' | 'key' | 'servername' | 'rejectUnauthorized'>;
  timeoutMs?: number;
  /** Source address of the connection (e.g. '127.0.0.2': another client as far as the service can tell). */
  localAddress?: string;
  /** Keep-alive agent to reuse connections; default none (one connection per request). */
  agent?: import('node:http').Agent;
}

/**
 * One request over node:http(s) with a raw header list, so duplicate `Authorization` or `DPoP`
 * headers really reach the server; no keep-alive (a fresh TLS handshake every time).
 */
export async function rawRequest(url: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const res = await sendRaw(url, options);
  // Every answer of this service is held against its OpenAPI document (test/support/openapi.ts).
  const method = options.method ?? 'GET';
  const problem = await undocumented(url, method, res, async () => {
    const doc = await sendRaw(new URL('/openapi.json', url).toString(), { ...(options.tls === undefined ? {} : { tls: options.tls }) });
    return doc.status === 200 ? doc.body : undefined;
  });
  if (problem !== '') throw new Error(`the answer does not match GET /openapi.json: ${problem}`);
  return res;
}

function sendRaw(url: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const target = new URL(url);
  const flat: string[] = [];
  const given = options.headers ?? [];
  if (!given.some(([name]) => name.toLowerCase() === 'host')) flat.push('Host', target.host);
  for (const [name, value] of given) flat.push(name, value);
  if (options.body !== undefined && !given.some(([name]) => name.toLowerCase() === 'content-length')) {
    flat.push('Content-Length', String(Buffer.byteLength(options.body)));
  }
  const method = options.method ?? 'GET';
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const common = {
      hostname: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      method,
      headers: flat as unknown as Record<string, string>,
      agent: options.agent ?? (false as const),
      timeout: timeoutMs,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          json: <T>() => JSON.parse(body) as T,
        });
      });
    };
    const req =
      target.protocol === 'https:'
        ? nodeHttpsRequest({ ...common, ...options.tls }, onResponse)
        : nodeHttpRequest(common, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface CallOptions extends Omit<RawRequestOptions, 'headers'> {
  /** The access token; no Authorization header when undefined. */
  token?: string;
  /** 'DPoP' (default when a proof is sent) or 'Bearer'. */
  scheme?: 'DPoP' | 'Bearer';
  /** Proof(s) to send: one string, several (each its own header), or none. */
  proof?: string | readonly string[];
  headers?: readonly (readonly [string, string])[];
}

/** A request with `Authorization: <scheme> <token>` and the given DPoP header(s). */
export function callWithProof(url: string, options: CallOptions = {}): Promise<RawResponse> {
  const proofs = options.proof === undefined ? [] : typeof options.proof === 'string' ? [options.proof] : [...options.proof];
  const scheme = options.scheme ?? 'DPoP';
  const headers: [string, string][] = [];
  if (options.token !== undefined) headers.push(['Authorization', `${scheme} ${options.token}`]);
  for (const proof of proofs) headers.push(['DPoP', proof]);
  headers.push(...(options.headers ?? []).map(([name, value]) => [name, value] as [string, string]));
  return rawRequest(url, { ...options, headers });
}

export interface DpopRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | null;
  /** Reuse a handle (it keeps the DPoP-Nonce a server handed out). */
  handle?: oauth.DPoPHandle;
}

/**
 * A request with an oauth4webapi-made proof that, unlike `dpopGet`, also returns refusals
 * (oauth4webapi throws on a WWW-Authenticate challenge) and tells which proof it sent.
 */
export async function dpopRequest(
  url: string,
  accessToken: string,
  keys: KeyPair,
  options: DpopRequestOptions = {},
): Promise<{ response: Response; proof: string | undefined }> {
  const handle = options.handle ?? oauth.DPoP({}, keys);
  let proof: string | undefined;
  const capture: typeof fetch = async (input, init) => {
    proof = new Headers(init?.headers).get('dpop') ?? undefined;
    return fetch(input, init);
  };
  try {
    const response = await oauth.protectedResourceRequest(
      accessToken,
      options.method ?? 'GET',
      new URL(url),
      new Headers(options.headers),
      options.body ?? null,
      { DPoP: handle, [oauth.allowInsecureRequests]: true, [oauth.customFetch]: capture },
    );
    return { response, proof };
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) return { response: error.response, proof };
    throw error;
  }
}

/** `WWW-Authenticate: Scheme k="v", ...` as scheme and parameters (one challenge). */
export function parseChallenge(header: string | undefined | null): { scheme: string; params: Record<string, string> } | undefined {
  if (header === undefined || header === null || header === '') return undefined;
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  const params: Record<string, string> = {};
  const rest = space < 0 ? '' : header.slice(space + 1);
  for (const match of rest.matchAll(/([A-Za-z_][A-Za-z0-9_-]*)="((?:[^"\\]|\\.)*)"/g)) params[match[1]!] = match[2]!;
  return { scheme, params };
}

/** The problem body the service renders (src/http/errors.ts). */
export type ProblemBody = Problem;

export interface ExpectedProblem {
  status: number;
  /** Our reason code (`code` of the problem body). */
  code: string;
  /**
   * The expected challenge; `{schemes}` for a request without credentials: one challenge per
   * scheme, in this order, none with an `error` (RFC 6750 §3.1); null: no WWW-Authenticate.
   */
  challenge: { scheme: 'DPoP' | 'Bearer' | 'Basic'; error: string } | { schemes: readonly ('DPoP' | 'Bearer')[] } | null;
  /** Default true: error answers must not be cached. */
  noStore?: boolean;
}

function headerOf(res: Response | RawResponse, name: string): string | undefined {
  if (res instanceof Response) return res.headers.get(name) ?? undefined;
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

const DOCKER_CODES: Record<number, string> = {
  401: 'UNAUTHORIZED', 403: 'DENIED', 400: 'DENIED', 404: 'NOT_FOUND', 405: 'UNSUPPORTED', 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE', 500: 'UNAVAILABLE',
};

/** Every WWW-Authenticate header line of an answer, each parsed as one challenge. */
export function challengesOf(res: Response | RawResponse): { scheme: string; params: Record<string, string> }[] {
  const lines: string[] = [];
  if (res instanceof Response) {
    const joined = res.headers.get('www-authenticate');
    if (joined !== null) lines.push(...joined.split(/,\s*(?=(?:DPoP|Bearer) )/));
  } else {
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      if (res.rawHeaders[i]!.toLowerCase() === 'www-authenticate') lines.push(res.rawHeaders[i + 1]!);
    }
  }
  return lines.map((line) => parseChallenge(line)!);
}

/**
 * Asserts an error answer: status, problem+json body with our `code`, the Docker `errors`
 * array, `Cache-Control: no-store`, and the WWW-Authenticate scheme and `error=`.
 */
export async function expectProblem(res: Response | RawResponse, expected: ExpectedProblem): Promise<ProblemBody> {
  const text = res instanceof Response ? await res.text() : res.body;
  const context = `${expected.status} ${expected.code}; got ${res.status} ${text}`;
  expect(res.status, context).toBe(expected.status);
  expect(headerOf(res, 'content-type'), context).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as ProblemBody;
  // The body the OpenAPI document promises (test/support/openapi.ts).
  expect(problemSchemaErrors(body), context).toBe('');
  expect(body.code, context).toBe(expected.code);
  expect(body.status).toBe(expected.status);
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]?.message).toBe(body.detail);
  if (DOCKER_CODES[expected.status] !== undefined) expect(body.errors[0]?.code).toBe(DOCKER_CODES[expected.status]);
  expect(body.request_id).toBe(headerOf(res, 'x-request-id'));
  if (expected.noStore !== false) expect(headerOf(res, 'cache-control')).toBe('no-store');
  const challenge = parseChallenge(headerOf(res, 'www-authenticate'));
  if (expected.challenge === null) {
    expect(challenge, context).toBeUndefined();
  } else if ('schemes' in expected.challenge) {
    const all = challengesOf(res);
    expect(all.map((c) => c.scheme), context).toEqual(expected.challenge.schemes);
    for (const each of all) {
      expect(each.params.error, context).toBeUndefined();
      expect(each.params.error_description, context).toBeUndefined();
      expect(each.params.realm, context).toBeTruthy();
      if (each.scheme === 'DPoP') expect(each.params.algs).toBeTruthy();
    }
  } else {
    expect(challenge?.scheme, context).toBe(expected.challenge.scheme);
    // RFC 7617 has no error parameter: for Basic, `error` is only the body's.
    expect(challenge?.params.error, context).toBe(expected.challenge.scheme === 'Basic' ? undefined : expected.challenge.error);
    expect(challenge?.params.realm, context).toBeTruthy();
    expect(body.error).toBe(expected.challenge.error);
    if (expected.challenge.scheme === 'DPoP') expect(challenge?.params.algs).toBeTruthy();
  }
  return body;
}
