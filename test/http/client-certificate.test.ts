// Parsing the forwarded client certificate: one configured header, one configured format.
import { beforeAll, describe, expect, it } from 'vitest';
import { forwardedCertificate, type ForwardedCertificateFormat } from '../../src/http/client-certificate.ts';
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
const pem = (cert: IssuedCertificate) => encodeURIComponent(cert.certPem);

describe('forwardedCertificate', () => {
  it('reads RFC 9440 (:base64 DER:)', () => {
    expect(forwardedCertificate([`:${base64(client)}:`], 'rfc9440')).toEqual(client.der);
    expect(forwardedCertificate([`  :${base64(client)}:  `], 'rfc9440')).toEqual(client.der);
  });

  it('reads a URL-encoded PEM (nginx $ssl_client_escaped_cert)', () => {
    expect(forwardedCertificate([pem(client)], 'pem-urlencoded')).toEqual(client.der);
  });

  it('reads Envoy x-forwarded-client-cert (Cert="URL-encoded PEM")', () => {
    const xfcc = `By=spiffe://proxy.test;Hash=${'ab'.repeat(32)};Cert="${pem(client)}"`;
    expect(forwardedCertificate([xfcc], 'xfcc')).toEqual(client.der);
  });

  it('takes the last Envoy element: the one the nearest proxy added', () => {
    const first = `By=spiffe://edge;Hash=00;Cert="${pem(other)}"`;
    const last = `By=spiffe://proxy;Hash=11;Cert="${pem(client)}"`;
    expect(forwardedCertificate([`${first},${last}`], 'xfcc')).toEqual(client.der);
    expect(forwardedCertificate([`${last},${first}`], 'xfcc')).toEqual(other.der);
  });

  it('an Envoy element without Cert gives nothing, even if an earlier one had one', () => {
    const first = `By=spiffe://edge;Hash=00;Cert="${pem(other)}"`;
    expect(forwardedCertificate([`${first},By=spiffe://proxy;Hash=11`], 'xfcc')).toBeUndefined();
  });

  it('keeps an Envoy element whose quoted Subject holds a comma', () => {
    const xfcc = `By=spiffe://proxy;Hash=11;Cert="${pem(client)}";Subject="CN=client,O=Acme";URI=spiffe://client`;
    expect(forwardedCertificate([xfcc], 'xfcc')).toEqual(client.der);
  });

  it('reads only the configured format: another form in the header is no certificate', () => {
    expect(forwardedCertificate([pem(client)], 'rfc9440')).toBeUndefined();
    expect(forwardedCertificate([`:${base64(client)}:`], 'pem-urlencoded')).toBeUndefined();
    expect(forwardedCertificate([`:${base64(client)}:`], 'xfcc')).toBeUndefined();
  });

  it('gives nothing when the header is absent', () => {
    for (const format of ['rfc9440', 'pem-urlencoded', 'xfcc'] as ForwardedCertificateFormat[]) expect(forwardedCertificate([], format)).toBeUndefined();
  });

  it('refuses a header sent twice, even when both copies are the same certificate', () => {
    expect(forwardedCertificate([`:${base64(client)}:`, `:${base64(other)}:`], 'rfc9440')).toBeUndefined();
    expect(forwardedCertificate([`:${base64(client)}:`, `:${base64(client)}:`], 'rfc9440')).toBeUndefined();
    expect(forwardedCertificate([pem(client), pem(client)], 'pem-urlencoded')).toBeUndefined();
  });

  it.each<[string, string, ForwardedCertificateFormat]>([
    ['RFC 9440 without colons', 'MIIB', 'rfc9440'],
    ['RFC 9440 with base64 that is not a certificate', ':bm90IGEgY2VydGlmaWNhdGU=:', 'rfc9440'],
    ['RFC 9440 with characters outside base64', ':!!!:', 'rfc9440'],
    ['RFC 9440 empty', '::', 'rfc9440'],
    ['RFC 9440 as a list of two', ':AAAA:, :BBBB:', 'rfc9440'],
    ['PEM text that is not a PEM', 'hello%20world', 'pem-urlencoded'],
    ['PEM with a broken body', encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), 'pem-urlencoded'],
    ['PEM with a malformed escape', '%E0%A4%A', 'pem-urlencoded'],
    ['Envoy without Cert', 'By=spiffe://proxy;Hash=00', 'xfcc'],
    ['Envoy with an unquoted Cert that is no PEM', 'Cert=abc', 'xfcc'],
    ['Envoy with a Cert that is not a PEM', 'Cert="garbage"', 'xfcc'],
    ['Envoy with a malformed escape', 'Cert="%E0%A4%A"', 'xfcc'],
  ])('garbage gives nothing, never a throw: %s', (_label, value, format) => {
    expect(forwardedCertificate([value], format)).toBeUndefined();
  });
});
