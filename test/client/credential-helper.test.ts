// docker-credential-registry-token as docker and podman run it: the binary, the action as its
// argument, the server URL on stdin, against the real development Authority, the service, and
// Debian's docker-registry (whose realm the helper discovers). What it answers is used the way
// the clients use an identity token (POST /token refresh_token), and the registry accepts the
// registry token that comes back.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENTS, SAMPLE_CERT, SERVICE, startStack, treeText, type Stack } from '../support/stack.ts';
import { helper, helperOnPath, runCommand, toolEnv, type Run } from '../support/client-tools.ts';
import { freePort } from '../e2e/support/ports.ts';
import { startRegistry, type RunningRegistry } from '../e2e/support/registry.ts';

const CLIENT = CLIENTS.find((c) => c.clientId === 'team-dpop')!;
const NOT_FOUND = 'credentials not found in native keychain\n';

let stack: Stack;
let registry: RunningRegistry;
let dir: string;
let secretFile: string;
const seen = new Set<string>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'client-helper-'));
  stack = await startStack();
  registry = await startRegistry({ realm: `${stack.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: SAMPLE_CERT });
  secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, `${CLIENT.clientSecret}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await registry?.stop();
  await stack?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Home {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Writes the settings file where the helper looks by default (~/.config/registry-token/helper.yaml). */
  settings(document: Record<string, unknown>): void;
}

function newHome(): Home {
  const home = mkdtempSync(join(dir, 'home-'));
  return {
    home,
    env: toolEnv(home),
    settings(document) {
      mkdirSync(join(home, '.config', 'registry-token'), { recursive: true });
      writeFileSync(join(home, '.config', 'registry-token', 'helper.yaml'), dump(document));
    },
  };
}

const authority = () => ({ issuer: stack.authority.issuer, clientId: CLIENT.clientId, clientSecretFile: secretFile });

interface Answer {
  ServerURL: string;
  Username: string;
  Secret: string;
}

async function get(home: Home, server = registry.host): Promise<Answer> {
  const result = await helper('get', `${server}\n`, home.env);
  expect(result.code, result.stdout + result.stderr).toBe(0);
  expect(result.stderr).toBe('');
  const answer = JSON.parse(result.stdout) as Answer;
  seen.add(answer.Secret);
  return answer;
}

/** As docker and containers/image use an identity token; then the registry itself. */
async function works(secret: string, scope = 'repository:team/app:pull'): Promise<string> {
  const answer = await fetch(`${stack.url}/token`, {
    method: 'POST',
    body: new URLSearchParams([
      ['grant_type', 'refresh_token'],
      ['refresh_token', secret],
      ['client_id', 'containers/image'],
      ['service', SERVICE],
      ['scope', scope],
    ]),
  });
  expect(answer.status, await answer.clone().text()).toBe(200);
  const body = (await answer.json()) as { access_token: string; scope: string };
  const v2 = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${body.access_token}` } });
  await v2.body?.cancel();
  expect(v2.status).toBe(200);
  return body.scope;
}

const mode = (path: string) => statSync(path).mode & 0o777;

function expectFailure(result: Run, pattern: RegExp): void {
  expect(result.code, result.stdout).toBe(1);
  const lines = result.stdout.trimEnd().split('\n');
  expect(lines, result.stdout).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).toBe('');
}

describe('docker-credential-registry-token', () => {
  it('get: discovers the token service, mints a credential as an identity token, keeps the key and the cache 0600', async () => {
    const home = newHome();
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } } });
    const answer = await get(home);
    expect(answer).toMatchObject({ ServerURL: registry.host, Username: '<token>' });
    expect(await works(answer.Secret)).toBe('repository:team/app:pull');

    const key = join(home.home, '.local', 'state', 'registry-token', 'dpop-key.json');
    expect(mode(key)).toBe(0o600);
    expect(mode(join(key, '..'))).toBe(0o700);
    const cacheDir = join(home.home, '.cache', 'registry-token');
    const [cached] = readdirSync(cacheDir);
    expect(mode(join(cacheDir, cached!))).toBe(0o600);
    expect(mode(cacheDir)).toBe(0o700);
  });

  it('the cached credential is handed out again until shortly before it expires, then a new one; the key stays', async () => {
    const home = newHome();
    const settings = { authority: authority(), credentialLifetimeSeconds: 600, renewBeforeSeconds: 60, registries: { [registry.host]: { insecure: true } } };
    home.settings(settings);
    const first = await get(home);
    // Docker names the server with a scheme at times: the same registry, the same credential.
    expect((await get(home, `https://${registry.host}`)).Secret).toBe(first.Secret);
    expect((await get(home)).Secret).toBe(first.Secret);
    const key = readFileSync(join(home.home, '.local', 'state', 'registry-token', 'dpop-key.json'), 'utf8');

    // Less than renewBeforeSeconds left on the cached one (it has < 600 s): renewed.
    home.settings({ ...settings, credentialLifetimeSeconds: 1200, renewBeforeSeconds: 900 });
    const renewed = await get(home);
    expect(renewed.Secret).not.toBe(first.Secret);
    await works(renewed.Secret);
    expect(readFileSync(join(home.home, '.local', 'state', 'registry-token', 'dpop-key.json'), 'utf8')).toBe(key);
    // And that one is reused in turn (1200 s minted, 900 s margin).
    expect((await get(home)).Secret).toBe(renewed.Secret);
  });

  it('other settings for the registry (a narrowing) are not served from the old cache; the narrowing holds', async () => {
    const home = newHome();
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } } });
    const wide = await get(home);
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true, scope: ['repository:team/app:pull'], name: 'laptop' } } });
    const narrow = await get(home);
    expect(narrow.Secret).not.toBe(wide.Secret);
    expect(await works(narrow.Secret, 'repository:team/app:pull,push')).toBe('repository:team/app:pull');
    expect(await works(wide.Secret, 'repository:team/app:pull,push')).toBe('repository:team/app:pull,push');
  });

  it('tokenService names the service; erase drops the cached credential; store is accepted and ignored; list', async () => {
    const home = newHome();
    const other = `127.0.0.1:${await freePort()}`; // no registry there: the settings say where the service is
    home.settings({ authority: authority(), registries: { [other]: { tokenService: stack.url } } });
    const first = await get(home, other);
    await works(first.Secret);

    const stored = await helper('store', JSON.stringify({ ServerURL: other, Username: 'someone', Secret: 'a-password' }), home.env);
    expect(stored).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await get(home, other)).Secret).toBe(first.Secret);

    expect(await helper('erase', `${other}\n`, home.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(join(home.home, '.cache', 'registry-token'))).toEqual([]);
    expect((await get(home, other)).Secret).not.toBe(first.Secret);

    expect(await helper('list', '', home.env)).toEqual({ code: 0, stdout: `${JSON.stringify({ [other]: '<token>' })}\n`, stderr: '' });
  });

  it('a registry not in the settings is "not found", so the client goes on without credentials', async () => {
    const home = newHome();
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } } });
    expect(await helper('get', 'elsewhere.example:5000\n', home.env)).toEqual({ code: 1, stdout: NOT_FOUND, stderr: '' });
    expect(await helper('get', 'https://index.docker.io/v1/\n', home.env)).toEqual({ code: 1, stdout: NOT_FOUND, stderr: '' });
    expect(existsSync(join(home.home, '.local'))).toBe(false);
  });

  it('$REGISTRY_TOKEN_HELPER_CONFIG and the paths it names; parallel first uses share one key', async () => {
    const home = newHome();
    const settingsFile = join(home.home, 'elsewhere.yaml');
    writeFileSync(settingsFile, dump({ authority: authority(), dpopKeyFile: 'state/key.json', cacheDir: 'cache', registries: { [registry.host]: { insecure: true } } }));
    const env = { ...home.env, REGISTRY_TOKEN_HELPER_CONFIG: settingsFile };
    const answers = await Promise.all([1, 2, 3].map(() => helper('get', registry.host, env)));
    for (const answer of answers) {
      expect(answer.code, answer.stdout).toBe(0);
      seen.add((JSON.parse(answer.stdout) as Answer).Secret);
    }
    expect(readdirSync(join(home.home, 'state'))).toEqual(['key.json']);
    expect(readdirSync(join(home.home, 'cache'))).toHaveLength(1);
  });

  it('each failure is one line on stdout (what docker shows), exit 1, nothing on stderr', async () => {
    const home = newHome();
    expectFailure(await helper('get', registry.host, home.env), /^not configured: no settings file .*\/\.config\/registry-token\/helper\.yaml/);
    expect(await helper('list', '', home.env)).toEqual({ code: 0, stdout: '{}\n', stderr: '' });

    home.settings({ authority: { ...authority(), clientSecretFile: undefined }, registries: { [registry.host]: { insecure: true } } });
    expectFailure(await helper('get', registry.host, home.env), /^no client secret: give --client-secret-file FILE or set \$REGISTRY_TOKEN_CLIENT_SECRET/);
    // The environment is the other way to give it.
    const viaEnv = await helper('get', registry.host, { ...home.env, REGISTRY_TOKEN_CLIENT_SECRET: CLIENT.clientSecret });
    expect(viaEnv.code, viaEnv.stdout).toBe(0);
    seen.add((JSON.parse(viaEnv.stdout) as Answer).Secret);

    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } }, renewBefore: 5 });
    expectFailure(await helper('get', registry.host, home.env), /helper\.yaml: renewBefore: unknown key$/);

    const closed = await freePort();
    home.settings({ authority: { ...authority(), issuer: `http://127.0.0.1:${closed}` }, registries: { [registry.host]: { insecure: true } } });
    expectFailure(await helper('get', registry.host, home.env), new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)$`));

    home.settings({ authority: authority(), registries: { [registry.host]: {} } });
    expectFailure(await helper('get', registry.host, home.env), /if it speaks plain HTTP, add --insecure/);

    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true, scope: ['repository:team/app:frobnicate'] } } });
    expectFailure(await helper('get', registry.host, home.env), /^the token service refused to issue a credential \(400 \w+\): /);

    const key = join(home.home, '.local', 'state', 'registry-token', 'dpop-key.json');
    chmodSync(key, 0o644);
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } } });
    await helper('erase', registry.host, home.env); // else the cached credential is handed out, the key unread
    expectFailure(await helper('get', registry.host, home.env), /the DPoP key is readable by others \(mode 644\); run chmod 600/);

    expectFailure(await helper('frobnicate', '', home.env), /^unknown credential action "frobnicate"/);
  });

  it('version, --version, --help', async () => {
    const home = newHome();
    expect(await helper('version', '', home.env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^docker-credential-registry-token \(registry-token\) \d+\.\d+\.\d+\n$/) });
    expect(await helper('--version', '', home.env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^docker-credential-registry-token \(registry-token\) \d/) });
    const help = await helper('--help', '', home.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: docker-credential-registry-token get\|store\|erase\|list\|version/);
  });

  it('runs by name from PATH, as docker and podman find it', async () => {
    const home = newHome();
    home.settings({ authority: authority(), registries: { [registry.host]: { insecure: true } } });
    const bin = helperOnPath(mkdtempSync(join(dir, 'bin-')));
    const result = await runCommand('docker-credential-registry-token', ['get'], { ...home.env, PATH: `${bin}:${process.env.PATH}` }, registry.host);
    expect(result.code, result.stdout).toBe(0);
    seen.add((JSON.parse(result.stdout) as Answer).Secret);
  });

  it('no credential reached the service log or ledger', () => {
    expect(seen.size).toBeGreaterThanOrEqual(8);
    const logs = stack.logs() + treeText(stack.dir);
    for (const credential of seen) expect(logs).not.toContain(credential);
  });
});
