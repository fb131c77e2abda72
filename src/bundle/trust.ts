// The trust bundle: what a mirror registry in an air-gapped site needs to verify this service's
// tokens. Its content depends on the set of published keys, not on which one is active (keys
// sorted by kid), so the switch step of a rotation changes only the manifest's signer.
import type { KeySet } from '../mint/key-set.ts';
import { canonicalJson, pemCertificate, yamlString } from './canonical.ts';
import type { BundleFile, BundleInput } from './manifest.ts';

export const TRUST_FILES = {
  jwks: 'jwks.json',
  rootCertBundle: 'rootcertbundle.pem',
  distribution2: 'distribution-2.x.yml',
  distribution3: 'distribution-3.x.yml',
} as const;

/** Where the registry will find the files: Debian's docker-registry and distribution 3.x defaults. */
export const REGISTRY_DIRS = { distribution2: '/etc/docker/registry', distribution3: '/etc/distribution' } as const;

export interface TrustBundleOptions {
  readonly keys: KeySet;
  /** `signing.issuer`: the registry's `auth.token.issuer`. */
  readonly issuer: string;
  /** `auth.token.realm`: where the mirror's clients get tokens. */
  readonly realm: string;
  /** `auth.token.service`: the tokens' `aud`. */
  readonly service: string;
  readonly created: string;
  /** Overrides REGISTRY_DIRS for both sections. */
  readonly registryDir?: string | undefined;
}

const byKid = <T extends { kid?: string | undefined }>(a: T, b: T): number => ((a.kid ?? '') < (b.kid ?? '') ? -1 : (a.kid ?? '') > (b.kid ?? '') ? 1 : 0);

function authSection(o: TrustBundleOptions, generation: '2.x' | '3.x', dir: string, kids: readonly string[], withBundle: boolean): string {
  const join = (name: string) => `${dir.replace(/\/+$/, '')}/${name}`;
  const files = [...(withBundle ? [TRUST_FILES.rootCertBundle] : []), ...(generation === '3.x' ? [TRUST_FILES.jwks] : [])];
  return [
    `# The auth section of a distribution ${generation} registry (config.yml), from registry-token bundle trust.`,
    `# Put ${files.join(' and ')} of this bundle in ${dir}; the registry reads them at start-up.`,
    `# Published signing keys (kid): ${kids.join(', ')}`,
    'auth:',
    '  token:',
    `    realm: ${yamlString(o.realm)}`,
    `    service: ${yamlString(o.service)}`,
    `    issuer: ${yamlString(o.issuer)}`,
    ...(withBundle ? [`    rootcertbundle: ${yamlString(join(TRUST_FILES.rootCertBundle))}`] : []),
    ...(generation === '3.x'
      ? ['    # 3.x verifies a token with x5c by rootcertbundle, one without by its kid in this JWKS.', `    jwks: ${yamlString(join(TRUST_FILES.jwks))}`]
      : []),
    '',
  ].join('\n');
}

export function trustBundle(options: TrustBundleOptions): BundleInput {
  const published = [...options.keys.published].sort(byKid);
  const kids = published.map((key) => key.kid);
  const jwks = { keys: [...options.keys.jwks.keys].sort(byKid) };
  // The leaf only: the key that signs. Its issuer would let every certificate it signs sign tokens.
  const certificates = published.filter((key) => key.x5c.length > 0).map((key) => pemCertificate(key.x5c[0]!));
  const text = (path: string, content: string): BundleFile => ({ path, bytes: Buffer.from(content, 'utf8'), mode: 0o644 });
  const withBundle = certificates.length > 0;
  // Distribution 2.x trusts only certificates: without any, it cannot trust these keys at all.
  const files = [
    text(TRUST_FILES.jwks, canonicalJson(jwks)),
    ...(withBundle
      ? [
          text(TRUST_FILES.rootCertBundle, certificates.join('')),
          text(TRUST_FILES.distribution2, authSection(options, '2.x', options.registryDir ?? REGISTRY_DIRS.distribution2, kids, true)),
        ]
      : []),
    text(TRUST_FILES.distribution3, authSection(options, '3.x', options.registryDir ?? REGISTRY_DIRS.distribution3, kids, withBundle)),
  ];
  return {
    kind: 'trust',
    created: options.created,
    issuer: options.issuer,
    files,
    extra: {
      service: options.service,
      realm: options.realm,
      keys: published.map((key) => ({ kid: key.kid, ...(key.algorithm === undefined ? {} : { alg: key.algorithm }), certificate: key.x5c.length > 0 })),
    },
  };
}
