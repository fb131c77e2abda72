// The client certificate a TLS-terminating proxy forwards, read from the one header the
// configuration names (`server.clientCertificateHeader`), in the one format it names. The
// caller decides whether the peer is a trusted proxy; this module only parses. Anything
// unreadable, and a header that appears more than once, is no certificate: a proxy sets its
// header once, so a second copy can only come from the client and nothing is guessed.
import { X509Certificate } from 'node:crypto';

export type ForwardedCertificateFormat = 'rfc9440' | 'pem-urlencoded' | 'xfcc';

export interface ClientCertificateHeader {
  /** Header name, any case. */
  readonly name: string;
  readonly format: ForwardedCertificateFormat;
}

function derOf(pem: string | undefined): Buffer | undefined {
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}

/** A malformed percent escape is no certificate, not a crash. */
function urlDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** RFC 9440 §2.2: a structured-field Byte Sequence, `:<base64 DER>:`. */
function fromRfc9440(value: string): Buffer | undefined {
  const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(value.trim());
  return match === null ? undefined : derOf(`-----BEGIN CERTIFICATE-----\n${match[1]}\n-----END CERTIFICATE-----`);
}

/**
 * Envoy `x-forwarded-client-cert`: comma-separated elements (quoted values may hold commas),
 * each `key=value;...`. The last element is the one the proxy closest to us added; with
 * `forward_client_cert_details: SANITIZE_SET` it is the only one.
 */
function fromXfcc(value: string): Buffer | undefined {
  const last = value.match(/(?:[^,"]|"[^"]*")+/g)?.pop() ?? '';
  const match = /(?:^|;)\s*Cert=(?:"([^"]*)"|([^;"]*))/i.exec(last);
  if (match === null) return undefined;
  const encoded = match[1] ?? match[2] ?? '';
  return derOf(urlDecoded(encoded));
}

/** DER of the forwarded certificate, from every raw value of the configured header. */
export function forwardedCertificate(values: readonly string[], format: ForwardedCertificateFormat): Buffer | undefined {
  if (values.length !== 1) return undefined;
  const value = values[0]!;
  if (format === 'rfc9440') return fromRfc9440(value);
  if (format === 'pem-urlencoded') return derOf(urlDecoded(value));
  return fromXfcc(value);
}
