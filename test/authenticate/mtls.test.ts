import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateThumbprint, forwardedCertificate } from '../../src/authenticate/mtls.ts';
import { selfSigned, type IssuedCertificate } from '../support/pki.ts';

let client: IssuedCertificate;
let other: IssuedCertificate;
beforeAll(async () => {
  [client, other] = await Promise.all([
    selfSigned({ commonName: 'client', clientAuth: true }),
    selfSigned({ commonName: 'other', clientAuth: true }),
  ]);
});

const base64 = (cert: IssuedCertificate) => cert.der.toString('base64');

describe('certificateThumbprint', () => {
  it('is base64url(SHA-256(DER)), the RFC 8705 x5t#S256', () => {
    const expected = createHash('sha256').update(client.der).digest('base64url');
    expect(certificateThumbprint(client.der)).toBe(expected);
    expect(certificateThumbprint(client.der)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(certificateThumbprint(other.der)).not.toBe(expected);
  });
});

describe('forwardedCertificate', () => {
  it('reads RFC 9440 Client-Cert (:base64 DER:)', () => {
    expect(forwardedCertificate({ 'client-cert': `:${base64(client)}:` })).toEqual(client.der);
    expect(forwardedCertificate({ 'client-cert': `  :${base64(client)}:  ` })).toEqual(client.der);
  });

  it('reads nginx ssl-client-cert (URL-encoded PEM)', () => {
    expect(forwardedCertificate({ 'ssl-client-cert': encodeURIComponent(client.certPem) })).toEqual(client.der);
  });

  it('reads Envoy x-forwarded-client-cert (Cert="URL-encoded PEM")', () => {
    const xfcc = `By=spiffe://proxy.test;Hash=${'ab'.repeat(32)};Cert="${encodeURIComponent(client.certPem)}"`;
    expect(forwardedCertificate({ 'x-forwarded-client-cert': xfcc })).toEqual(client.der);
  });

  it('takes the last Envoy element: the one the nearest proxy added', () => {
    const first = `By=spiffe://edge;Hash=00;Cert="${encodeURIComponent(other.certPem)}"`;
    const last = `By=spiffe://proxy;Hash=11;Cert="${encodeURIComponent(client.certPem)}"`;
    expect(forwardedCertificate({ 'x-forwarded-client-cert': `${first},${last}` })).toEqual(client.der);
    expect(forwardedCertificate({ 'x-forwarded-client-cert': `${last},${first}` })).toEqual(other.der);
  });

  it('an Envoy element without Cert gives nothing, even if an earlier one had one', () => {
    const first = `By=spiffe://edge;Hash=00;Cert="${encodeURIComponent(other.certPem)}"`;
    expect(forwardedCertificate({ 'x-forwarded-client-cert': `${first},By=spiffe://proxy;Hash=11` })).toBeUndefined();
  });

  // KNOWN BUG (reported): the header is split at every ',' before quotes are considered, so a
  // quoted Subject="CN=client,O=Acme" (which Envoy adds after Cert when configured) cuts the
  // last element and the certificate is lost. Flip to `it` once fixed.
  it('keeps an Envoy element whose quoted Subject holds a comma', () => {
    const xfcc = `By=spiffe://proxy;Hash=11;Cert="${encodeURIComponent(client.certPem)}";Subject="CN=client,O=Acme";URI=spiffe://client`;
    expect(forwardedCertificate({ 'x-forwarded-client-cert': xfcc })).toEqual(client.der);
  });

  it('prefers RFC 9440 over the proxy-specific headers', () => {
    const headers = {
      'client-cert': `:${base64(client)}:`,
      'ssl-client-cert': encodeURIComponent(other.certPem),
      'x-forwarded-client-cert': `Cert="${encodeURIComponent(other.certPem)}"`,
    };
    expect(forwardedCertificate(headers)).toEqual(client.der);
  });

  it('gives nothing when no header is present', () => {
    expect(forwardedCertificate({})).toBeUndefined();
    expect(forwardedCertificate({ 'client-cert': undefined })).toBeUndefined();
  });

  it('refuses a header sent twice', () => {
    expect(forwardedCertificate({ 'client-cert': [`:${base64(client)}:`, `:${base64(other)}:`] })).toBeUndefined();
    expect(forwardedCertificate({ 'client-cert': [`:${base64(client)}:`] })).toEqual(client.der);
  });

  it.each<[string, Record<string, string>]>([
    ['Client-Cert without colons', { 'client-cert': 'MIIB' }],
    ['Client-Cert with base64 that is not a certificate', { 'client-cert': ':bm90IGEgY2VydGlmaWNhdGU=:' }],
    ['Client-Cert with characters outside base64', { 'client-cert': ':!!!:' }],
    ['Client-Cert empty', { 'client-cert': '::' }],
    ['nginx text that is not a PEM', { 'ssl-client-cert': 'hello%20world' }],
    ['nginx PEM with a broken body', { 'ssl-client-cert': encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----') }],
    ['Envoy without Cert', { 'x-forwarded-client-cert': 'By=spiffe://proxy;Hash=00' }],
    ['Envoy with an unquoted Cert', { 'x-forwarded-client-cert': 'Cert=abc' }],
    ['Envoy with a Cert that is not a PEM', { 'x-forwarded-client-cert': 'Cert="garbage"' }],
  ])('garbage gives nothing: %s', (_label, headers) => {
    expect(forwardedCertificate(headers)).toBeUndefined();
  });

  // A malformed escape must not escape as a URIError (it would become a 500).
  it.each<[string, Record<string, string>]>([
    ['nginx with a malformed escape', { 'ssl-client-cert': '%E0%A4%A' }],
    ['Envoy with a malformed escape', { 'x-forwarded-client-cert': 'Cert="%E0%A4%A"' }],
  ])('garbage gives nothing: %s', (_label, headers) => {
    expect(forwardedCertificate(headers)).toBeUndefined();
  });
});
