import { booleanFlag, EXIT, stringFlag, UsageError, type Command } from './command.ts';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'make a signing key, its certificate, the registry\'s rootcertbundle and JWKS',
  synopsis: 'keygen --out DIR [--alg RS256|ES256] [--service NAME] [--issuer ISS] [--realm URL] [--force] [--json]',
  description: [
    'Writes signing-key.pem (mode 0600), signing-cert.pem, rootcertbundle.pem, jwks.json and',
    'registry-auth-snippet.yml into DIR. Refuses to overwrite existing files without --force.',
    'Exit 0 when written; 2 when refused or DIR cannot be written.',
  ].join('\n'),
  flags: {
    out: { type: 'string', arg: 'DIR', help: 'directory to write into (created when missing)' },
    alg: { type: 'string', arg: 'ALG', help: 'RS256 (default) or ES256' },
    service: { type: 'string', arg: 'NAME', help: 'the registry\'s service name, for the snippet' },
    issuer: { type: 'string', arg: 'ISS', help: 'token issuer (signing.issuer), for the snippet' },
    realm: { type: 'string', arg: 'URL', help: 'this service\'s /token URL, for the snippet' },
    force: { type: 'boolean', help: 'overwrite existing files' },
  },
  json: true,
  async run({ values, out }) {
    const outDir = stringFlag(values, 'out');
    if (outDir === undefined) throw new UsageError('keygen needs --out DIR');
    const alg = stringFlag(values, 'alg') ?? 'RS256';
    if (alg !== 'RS256' && alg !== 'ES256') throw new UsageError('--alg must be RS256 or ES256');
    const { keygen } = await import('../keys/keygen.ts');
    const optional = (name: 'service' | 'issuer' | 'realm') => {
      const value = stringFlag(values, name);
      return value === undefined ? {} : { [name]: value };
    };
    const result = await keygen({ outDir, alg, force: booleanFlag(values, 'force'), ...optional('service'), ...optional('issuer'), ...optional('realm') });
    if (out.json) {
      out.stdout(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const p = result.paths;
      out.stdout([
        `${result.alg} signing key written, kid ${result.kid}`,
        `  key              ${p.key} (keep secret: signing.keyPath)`,
        `  certificate      ${p.certificate} (signing.certificatePath)`,
        `  rootcertbundle   ${p.rootCertBundle} (the registry's auth.token.rootcertbundle)`,
        `  jwks             ${p.jwks} (the registry's auth.token.jwks, distribution 3.x)`,
        `  registry snippet ${p.registrySnippet}`,
        '',
      ].join('\n'));
    }
    return EXIT.ok;
  },
};
