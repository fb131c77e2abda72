// The trust bundle as an air-gapped mirror uses it: the real registry (distribution 2.8) started
// on the bundle's rootcertbundle.pem accepts tokens of every published key and no other.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBundle } from '../../src/bundle/manifest.ts';
import { trustBundle } from '../../src/bundle/trust.ts';
import { loadKeySet } from '../../src/mint/key-set.ts';
import { createMinter } from '../../src/mint/mint.ts';
import type { SigningKey } from '../../src/mint/signing-key.ts';
import { createSigningCert } from './support/pki.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';

const SERVICE = 'registry.example';

describe('Offline Kit trust bundle with a real registry', () => {
  let dir: string;
  let registry: RunningRegistry;
  const signers: SigningKey[] = [];
  let stranger: SigningKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'offline-kit-'));
    const a = await createSigningCert(join(dir, 'a'), { keyType: 'rsa' });
    const b = await createSigningCert(join(dir, 'b'), { keyType: 'ec' });
    const c = await createSigningCert(join(dir, 'c'), { keyType: 'ec' });
    const entries = [{ path: a.keyPath, certificatePath: a.certPath }, { path: b.keyPath, certificatePath: b.certPath }];
    const keys = loadKeySet({ keys: entries, activeKeyId: loadKeySet({ keys: [entries[1]!] }, {}).active.keyId }, {});
    await writeBundle(join(dir, 'kit'), trustBundle({ keys, issuer: 'registry-token', realm: 'https://auth.example/token', service: SERVICE, created: '2026-11-01T00:00:00Z' }), keys.active);
    for (const entry of entries) signers.push(loadKeySet({ keys: [entry] }, {}).active);
    stranger = loadKeySet({ keys: [{ path: c.keyPath, certificatePath: c.certPath }] }, {}).active;
    registry = await startRegistry({ realm: 'https://auth.example/token', service: SERVICE, issuer: 'registry-token', rootCertBundlePath: join(dir, 'kit', 'rootcertbundle.pem') });
  });

  afterAll(async () => {
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const loginStatus = async (key: SigningKey) => {
    const { token } = await createMinter({ signingKey: () => key, issuer: 'registry-token', lifetimeSeconds: 300, clock: () => new Date() }).mint({ subject: 'mirror', service: SERVICE, access: [] });
    return (await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${token}` } })).status;
  };

  it('accepts tokens of both published keys, refuses a key that is not in the bundle', async () => {
    expect(await loginStatus(signers[0]!)).toBe(200);
    expect(await loginStatus(signers[1]!)).toBe(200);
    expect(await loginStatus(stranger)).toBe(401);
  });
});
