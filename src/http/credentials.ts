// Turns a Fastify request into the stage's Credentials: every Authorization and DPoP value
// from rawHeaders (Node's parsed headers silently keep one Authorization and join DPoPs),
// the public URL for `htu`, and the client certificate: the TLS peer's, or, for a request
// from a trusted proxy, the one in the single header the configuration names. A registry
// credential in an OAuth form body (POST /token) is read here too.
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { Credentials, FormCredential } from '../authenticate/credentials.ts';
import { InvalidRequestError } from '../domain/errors.ts';
import { forwardedCertificate, type ClientCertificateHeader } from './client-certificate.ts';

export interface CredentialOptions {
  /** `server.publicUrl`: the base URL clients call (may carry a path prefix). */
  publicUrl: string | undefined;
  /** Without publicUrl and without a trusted proxy: this listener's own URL. */
  localUrl: () => string;
  /** True when the direct peer is one of `server.trustedProxies`. */
  isTrustedProxy: (address: string | undefined) => boolean;
  /** With `server.tls.clientCaPath`, a peer certificate must chain to it. */
  requireClientCa: boolean;
  /** `server.clientCertificateHeader`: absent means no certificate is ever taken from a header. */
  clientCertificateHeader?: ClientCertificateHeader | undefined;
}

function rawValues(request: FastifyRequest, name: string): string[] {
  const raw = request.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  }
  return values;
}

function peerCertificate(request: FastifyRequest, requireClientCa: boolean): Buffer | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  if (requireClientCa && socket.authorized !== true) return undefined;
  const certificate = socket.getPeerCertificate();
  return certificate?.raw !== undefined && certificate.raw.length > 0 ? certificate.raw : undefined;
}

export function credentialsOf(request: FastifyRequest, options: CredentialOptions): Credentials {
  const trusted = options.isTrustedProxy(request.raw.socket.remoteAddress);
  const path = request.url.split('?')[0] ?? '/';
  // Forwarded headers name the URL only when a trusted proxy set them (Fastify's trustProxy).
  const base = (options.publicUrl ?? (trusted ? `${request.protocol}://${request.host}` : options.localUrl())).replace(/\/$/, '');
  return {
    authorization: rawValues(request, 'authorization'),
    dpop: rawValues(request, 'dpop'),
    method: request.method,
    url: `${base}${path}`,
    clientCertificate: clientCertificateOf(request, options, trusted),
  };
}

function clientCertificateOf(request: FastifyRequest, options: CredentialOptions, trusted: boolean): Buffer | undefined {
  const header = options.clientCertificateHeader;
  // A trusted proxy's own TLS certificate (proxy-to-service mTLS) is not the client's: behind
  // it, only the header it sets speaks for the client.
  if (trusted && header !== undefined) return forwardedCertificate(rawValues(request, header.name.toLowerCase()), header.format);
  return peerCertificate(request, options.requireClientCa);
}

/** A parsed form body (`@fastify/formbody`): repeated fields are arrays. */
export type FormFields = Record<string, string | string[] | undefined>;

export function formValues(fields: FormFields, name: string): string[] {
  const value = fields[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function formValue(fields: FormFields, name: string): string | undefined {
  const values = formValues(fields, name);
  if (values.length > 1) throw new InvalidRequestError('invalid_request', `the ${name} field must appear at most once`);
  return values[0];
}

/**
 * The registry credential of an OAuth token request (RFC 6749 §4.3 password, §6 refresh): the
 * grants Docker clients send. Any other grant_type is 400 `unsupported_grant_type`, which
 * containerd answers by falling back to GET.
 */
export function formCredentialOf(fields: FormFields): FormCredential {
  const grant = formValue(fields, 'grant_type');
  if (grant === undefined || grant === '') throw new InvalidRequestError('invalid_request', 'the grant_type field is required (refresh_token or password)');
  if (grant === 'refresh_token') {
    return { grant, secret: formValue(fields, 'refresh_token') ?? '', username: undefined };
  }
  if (grant === 'password') {
    return { grant, secret: formValue(fields, 'password') ?? '', username: formValue(fields, 'username') };
  }
  throw new InvalidRequestError('unsupported_grant_type', `grant_type "${grant.slice(0, 64)}" is not supported: use refresh_token or password with a registry credential, or GET /token`);
}
