// RFC 8705 certificate binding: the token's `cnf["x5t#S256"]` against the client certificate.
// Where the certificate comes from (TLS peer, a proxy's header) is the HTTP layer's business.
import { createHash } from 'node:crypto';

export function certificateThumbprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}
