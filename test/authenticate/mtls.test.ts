import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateThumbprint } from '../../src/authenticate/mtls.ts';
import { selfSigned, type IssuedCertificate } from '../support/pki.ts';

let client: IssuedCertificate;
let other: IssuedCertificate;
beforeAll(async () => {
  [client, other] = await Promise.all([
    selfSigned({ commonName: 'client', clientAuth: true }),
    selfSigned({ commonName: 'other', clientAuth: true }),
  ]);
});

describe('certificateThumbprint', () => {
  it('is base64url(SHA-256(DER)), the RFC 8705 x5t#S256', () => {
    const expected = createHash('sha256').update(client.der).digest('base64url');
    expect(certificateThumbprint(client.der)).toBe(expected);
    expect(certificateThumbprint(client.der)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(certificateThumbprint(other.der)).not.toBe(expected);
  });
});
