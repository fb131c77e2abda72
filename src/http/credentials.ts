// Turns a Fastify request into the stage's Credentials: every Authorization and DPoP value
// from rawHeaders (Node's parsed headers silently keep one Authorization and join DPoPs),
// the public URL for `htu`, and the client certificate: the TLS peer's, or, for a request
// from a trusted proxy, the one in the single header the configuration names.
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { Credentials } from '../authenticate/credentials.ts';
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
