// RFC 8705 certificate binding: the token's `cnf["x5t#S256"]` against the client certificate.
import { createHash, X509Certificate } from 'node:crypto';

export function certificateThumbprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

function pemToDer(pem: string | undefined): Buffer | undefined {
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}

/** A proxy header's URL-encoded PEM; a malformed escape is no certificate, not a crash. */
function urlDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * A client certificate forwarded by a trusted TLS-terminating proxy, in the forms the common
 * proxies use: RFC 9440 `Client-Cert: :base64DER:`, nginx `ssl-client-cert` (URL-encoded PEM),
 * Envoy `x-forwarded-client-cert: ...;Cert="<URL-encoded PEM>"`. Only call this for requests
 * whose peer is a trusted proxy.
 */
export function forwardedCertificate(headers: Record<string, string | string[] | undefined>): Buffer | undefined {
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  };
  const rfc9440 = one('client-cert');
  if (rfc9440 !== undefined) {
    const match = /^:([A-Za-z0-9+/=]+):$/.exec(rfc9440.trim());
    return match === null ? undefined : pemToDer(`-----BEGIN CERTIFICATE-----\n${match[1]}\n-----END CERTIFICATE-----`);
  }
  const nginx = one('ssl-client-cert');
  if (nginx !== undefined) return pemToDer(urlDecoded(nginx));
  const envoy = one('x-forwarded-client-cert');
  if (envoy !== undefined) {
    // The last element is the one added by the proxy closest to us.
    // Elements are comma-separated, but quoted values (Subject="CN=a,O=b") hold commas too.
    const last = envoy.match(/(?:[^,"]|"[^"]*")+/g)?.pop() ?? '';
    const match = /(?:^|;)Cert="([^"]+)"/.exec(last);
    return match === null ? undefined : pemToDer(urlDecoded(match[1]!));
  }
  return undefined;
}
