// The credential bundle on its own: its bytes are a function of the issued credentials and
// --created (built twice from one issued set: identical names, modes, mtimes and bytes), the
// manifest never holds a secret, and verify names the file when any byte of any file changes
// or when a secret is not the credential the manifest lists.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/bundle/canonical.ts';
import { bundledCredential, credentialBundle, type BundledCredential } from '../../src/bundle/credentials.ts';
import { bundleFiles, MANIFEST, MANIFEST_JWS, verifyBundle, writeBundle } from '../../src/bundle/manifest.ts';
import { CREDENTIAL_TYPE } from '../../src/credentials/format.ts';
import { createCredentialIssuer } from '../../src/credentials/issue.ts';
import type { Principal } from '../../src/domain/types.ts';
import { loadKeySet, type KeySet } from '../../src/mint/key-set.ts';
import { createSigner } from '../../src/mint/signer.ts';
import type { CredentialGrant } from '../../src/pipeline.ts';
import { execFileSync } from 'node:child_process';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const CREATED = '2026-11-01T00:00:00Z';
const ISSUER = 'registry-token';

let dir: string;
let built = 0;
const keySets = {} as Record<'rsa' | 'ec' | 'stranger', KeySet>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-credentials-'));
  for (const name of ['ec', 'stranger']) {
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(dir, `${name}.pem`)], { stdio: 'ignore' });
  }
  keySets.rsa = loadKeySet({ keyPath: SAMPLE_KEY }, {});
  keySets.ec = loadKeySet({ keyPath: join(dir, 'ec.pem') }, {});
  keySets.stranger = loadKeySet({ keyPath: join(dir, 'stranger.pem') }, {});
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Credentials as the pipeline issues them, signed by `keys`' active key. */
async function issue(keys: KeySet, names: (string | undefined)[], narrowing = 'repository:mirror/**:pull'): Promise<BundledCredential[]> {
  const issuer = createCredentialIssuer({
    sign: createSigner(() => keys.active, { typ: CREDENTIAL_TYPE, x5c: false }),
    issuer: ISSUER,
    lifetimes: { defaultLifetimeSeconds: 86_400, minLifetimeSeconds: 60, maxLifetimeSeconds: 7_776_000 },
    clock: () => new Date(),
  });
  const principal = { subject: 'mirror-site-7', tenant: 'acme', plan: 'team', license: 'lic-7' } as Principal;
  const out: BundledCredential[] = [];
  for (const name of names) {
    const credential = await issuer.issue(
      { subject: principal.subject, clientId: undefined, tenant: principal.tenant, plan: principal.plan, license: principal.license, root: 'operator', opScopes: ['registry.token.issue'] },
      { narrowing, lifetimeSeconds: 7_776_000, name },
    );
    out.push(bundledCredential({ credential, narrowing, name, principal } as CredentialGrant));
  }
  return out;
}

async function build(keys: KeySet, credentials: readonly BundledCredential[], created = CREATED): Promise<string> {
  const out = join(dir, `kit-${++built}`);
  await writeBundle(out, credentialBundle({ credentials, issuer: ISSUER, created }), keys.active);
  return out;
}

/** Every file and directory: name, mode, mtime and bytes. */
function snapshot(root: string): [string, number, number, string][] {
  return [['', statSync(root).mode, statSync(root).mtimeMs, ''] as [string, number, number, string]].concat(
    readdirSync(root, { recursive: true, withFileTypes: true })
      .map((entry) => join(entry.parentPath, entry.name))
      .sort()
      .map((path) => {
        const stat = statSync(path);
        return [path.slice(root.length), stat.mode, stat.mtimeMs, stat.isFile() ? readFileSync(path).toString('base64') : ''];
      }),
  );
}

const jwksOf = (keys: KeySet) => ({ keys: [...keys.jwks.keys] });

describe('bundle credentials: determinism', () => {
  it.each(['rsa', 'ec'] as const)('is byte-identical (names, modes, mtimes, bytes) built twice from one issued set, in any order (%s key)', async (kind) => {
    const credentials = await issue(keySets[kind], ['mirror-a', undefined, 'mirror-c']);
    const a = snapshot(await build(keySets[kind], credentials));
    const b = snapshot(await build(keySets[kind], [...credentials].reverse()));
    expect(a).toEqual(b);
    const ids = credentials.map((c) => c.id).sort();
    expect(a.map(([name]) => name)).toEqual(['', '/manifest.json', '/manifest.jws', '/secrets', ...ids.map((id) => `/secrets/${id}`)]);
    expect(a[0]![1] & 0o777).toBe(0o700);
    for (const [name, mode, mtime] of a) {
      if (name.startsWith('/secrets/')) expect(mode & 0o777, name).toBe(0o600);
      expect(new Date(mtime).toISOString(), name).toBe('2026-11-01T00:00:00.000Z');
    }
  });

  it('the files the admin API answers are the bytes the CLI writes', async () => {
    const credentials = await issue(keySets.ec, ['x']);
    const input = credentialBundle({ credentials, issuer: ISSUER, created: CREATED });
    const kit = await build(keySets.ec, credentials);
    for (const file of bundleFiles(input, keySets.ec.active)) expect(readFileSync(join(kit, file.path)).equals(file.bytes), file.path).toBe(true);
  });

  it('another --created changes only the manifest and its signature', async () => {
    const credentials = await issue(keySets.ec, ['a', 'b']);
    const a = snapshot(await build(keySets.ec, credentials));
    const b = snapshot(await build(keySets.ec, credentials, '2026-11-02T00:00:00Z'));
    expect(a.filter(([, , , bytes], i) => bytes !== b[i]![3]).map(([name]) => name)).toEqual(['/manifest.json', '/manifest.jws']);
  });
});

describe('bundle credentials: content', () => {
  it('lists ids, subjects, scopes, times and each secret file’s SHA-256, and never a secret', async () => {
    const credentials = await issue(keySets.rsa, ['mirror-a', undefined]);
    const kit = await build(keySets.rsa, credentials);
    const text = readFileSync(join(kit, MANIFEST), 'utf8');
    for (const c of credentials) {
      expect(text).not.toContain(c.secret);
      expect(text).not.toContain(c.secret.split('.')[2]!);
      expect(readFileSync(join(kit, 'secrets', c.id), 'ascii')).toBe(`${c.secret}\n`);
    }
    // The encodings of docs/offline.md: canonical JSON (sorted members at every depth, two-space
    // indent, LF, one final newline), no unset member written as null.
    expect(text).toBe(canonicalJson(JSON.parse(text)));
    expect(text).not.toContain('\r');
    expect(text).not.toContain('null');
    expect(text.endsWith('}\n')).toBe(true);
    const manifest = JSON.parse(text) as { kind: string; credentials: Record<string, unknown>[]; files: { path: string; sha256: string }[] };
    expect(manifest.kind).toBe('credentials');
    const sorted = [...credentials].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(manifest.credentials).toEqual(sorted.map((c) => ({
      id: c.id,
      username: c.id,
      subject: 'mirror-site-7',
      tenant: 'acme',
      plan: 'team',
      license: 'lic-7',
      ...(c.name === undefined ? {} : { name: c.name }),
      scopes: ['repository:mirror/**:pull'],
      notBefore: c.notBefore,
      expiresAt: c.expiresAt,
      file: `secrets/${c.id}`,
      sha256: manifest.files.find((f) => f.path === `secrets/${c.id}`)!.sha256,
    })));
    expect(Date.parse(sorted[0]!.expiresAt) - Date.parse(sorted[0]!.notBefore)).toBe(7_776_000_000);
  });
});

describe('bundle verify: credential bundles', () => {
  it('accepts an untouched bundle, offline, with the JWKS given', async () => {
    const kit = await build(keySets.ec, await issue(keySets.ec, ['a', 'b']));
    expect(await verifyBundle(kit, jwksOf(keySets.ec))).toMatchObject({ ok: true, kind: 'credentials', created: CREATED, files: 2 });
    expect(await verifyBundle(kit, jwksOf(keySets.stranger))).toMatchObject({ ok: false, file: MANIFEST_JWS });
  });

  it('fails naming the file when any one byte of any file is changed', async () => {
    const kit = await build(keySets.ec, await issue(keySets.ec, ['a', 'b']));
    const names = readdirSync(kit, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(kit.length + 1))
      .sort();
    expect(names).toHaveLength(4);
    let checked = 0;
    for (const name of names) {
      const path = join(kit, name);
      const original = readFileSync(path);
      for (const at of [0, Math.floor(original.length / 3), Math.floor(original.length / 2), original.length - 2, original.length - 1]) {
        for (const edit of [(b: number) => (b === 0x41 ? 0x42 : 0x41), (b: number) => b ^ 0x80]) {
          const changed = Buffer.from(original);
          changed[at] = edit(changed[at]!);
          writeFileSync(path, changed);
          const verdict = await verifyBundle(kit, jwksOf(keySets.ec));
          expect(verdict.ok, `${name} byte ${at}`).toBe(false);
          if (!verdict.ok) expect(verdict.file, `${name} byte ${at}: ${verdict.problem}`).toBe(name);
          checked += 1;
        }
      }
      writeFileSync(path, original);
    }
    expect(checked).toBe(40);
    expect((await verifyBundle(kit, jwksOf(keySets.ec))).ok).toBe(true);
  });

  it('names a secret that is another credential than the one listed, or one signed by a key outside the JWKS', async () => {
    const [first, second] = await issue(keySets.ec, ['a', 'b']);
    // A signed manifest whose digests match, but whose entry for one id holds another credential.
    const swapped = await build(keySets.ec, [first!, { ...second!, secret: first!.secret }]);
    expect(await verifyBundle(swapped, jwksOf(keySets.ec))).toEqual({ ok: false, file: `secrets/${second!.id}`, problem: 'its id is not the one the manifest lists' });
    const [foreign] = await issue(keySets.stranger, ['c']);
    const mixed = await build(keySets.ec, [foreign!]);
    expect(await verifyBundle(mixed, jwksOf(keySets.ec))).toEqual({ ok: false, file: `secrets/${foreign!.id}`, problem: 'not a credential signed by a key of the given JWKS' });
    const longer = await build(keySets.ec, [{ ...first!, expiresAt: '2099-01-01T00:00:00Z' }]);
    expect(await verifyBundle(longer, jwksOf(keySets.ec))).toEqual({ ok: false, file: `secrets/${first!.id}`, problem: 'its expiresAt is not the one the manifest lists' });
  });

  it('names a missing secret and one the manifest does not list', async () => {
    const [only] = await issue(keySets.ec, ['a']);
    const kit = await build(keySets.ec, [only!]);
    writeFileSync(join(kit, 'secrets', 'rtc_01JZZZZZZZZZZZZZZZZZZZZZZZ'), 'x\n');
    expect(await verifyBundle(kit, jwksOf(keySets.ec))).toEqual({ ok: false, file: 'secrets/rtc_01JZZZZZZZZZZZZZZZZZZZZZZZ', problem: 'not listed in the manifest' });
    rmSync(join(kit, 'secrets'), { recursive: true });
    expect(await verifyBundle(kit, jwksOf(keySets.ec))).toEqual({ ok: false, file: `secrets/${only!.id}`, problem: 'missing' });
  });
});
