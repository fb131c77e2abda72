// `registry-token login` as a user runs it, against the real development Authority
// (oidc-provider, client_credentials + DPoP), the service, and Debian's docker-registry whose
// Bearer realm points at the service: the command finds the token service from the registry,
// writes the credential, and what it wrote gets a registry token the registry accepts.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENTS, SAMPLE_CERT, SERVICE, startStack, treeText, type Stack } from '../support/stack.ts';
import { login, toolEnv, type Run } from '../support/client-tools.ts';
import { freePort } from '../e2e/support/ports.ts';
import { startRegistry, type RunningRegistry } from '../e2e/support/registry.ts';

const CLIENT = CLIENTS.find((c) => c.clientId === 'team-dpop')!;

let stack: Stack;
let registry: RunningRegistry;
let dir: string;
let secretFile: string;
let env: NodeJS.ProcessEnv;
/** Every credential a test saw: none may show up on stderr, in the service's logs or ledger. */
const seen = new Set<string>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'client-login-'));
  stack = await startStack();
  registry = await startRegistry({ realm: `${stack.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: SAMPLE_CERT });
  secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, `${CLIENT.clientSecret}\n`, { mode: 0o600 });
  env = toolEnv(mkdtempSync(join(dir, 'home-')));
});

afterAll(async () => {
  await registry?.stop();
  await stack?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const base = (clientId = CLIENT.clientId) => ['--issuer', stack.authority.issuer, '--client-id', clientId];

/** One line on stderr, exit 1, no stack trace, no secret. */
function expectOneLineError(result: Run, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^registry-token login: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toContain(CLIENT.clientSecret);
}

async function postToken(fields: [string, string][]): Promise<Response> {
  return fetch(`${stack.url}/token`, { method: 'POST', body: new URLSearchParams(fields) });
}

/** What docker does with an identity token: POST refresh_token, then Bearer to the registry. */
async function registryAccepts(credential: string, scope: string): Promise<{ granted: string; status: number }> {
  const answer = await postToken([
    ['grant_type', 'refresh_token'],
    ['refresh_token', credential],
    ['client_id', 'docker'],
    ['service', SERVICE],
    ['scope', scope],
  ]);
  expect(answer.status, await answer.clone().text()).toBe(200);
  const body = (await answer.json()) as { access_token: string; scope: string };
  const v2 = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${body.access_token}` } });
  await v2.body?.cancel();
  return { granted: body.scope, status: v2.status };
}

function authEntry(file: string): { auth: string; identitytoken: string } {
  return (JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string; identitytoken: string }> }).auths[registry.host]!;
}

describe('registry-token login', () => {
  it('finds the token service from the registry, writes config.json and auth.json 0600, and the credential works at the registry', async () => {
    const dockerDir = join(dir, 'docker');
    const authFile = join(dir, 'containers', 'auth.json');
    const result = await login(
      [registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--docker-config', dockerDir, '--auth-file', authFile],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const entry = authEntry(join(dockerDir, 'config.json'));
    seen.add(entry.identitytoken);
    const username = Buffer.from(entry.auth, 'base64').toString('utf8');
    expect(username).toMatch(/^rtc_[0-9A-Z]{26}:$/);
    expect(authEntry(authFile)).toEqual(entry);
    for (const file of [join(dockerDir, 'config.json'), authFile]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain(`Login succeeded: credential ${username.slice(0, -1)} for ${registry.host} (the whole plan), expires `);
    expect(result.stdout).not.toContain(entry.identitytoken);

    expect(await registryAccepts(entry.identitytoken, 'repository:team/app:pull,push')).toEqual({ granted: 'repository:team/app:pull,push', status: 200 });
  });

  it('--print writes nothing and prints only the credential; --json with narrowing, lifetime and name', async () => {
    const home = mkdtempSync(join(dir, 'home-print-'));
    const printed = await login([registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--print'], toolEnv(home));
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    seen.add(printed.stdout.trim());
    expect(existsSync(join(home, '.docker'))).toBe(false);

    const json = await login(
      [registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--print', '--json', '--scope', 'repository:team/app:pull', '--expires-in', '120', '--name', 'ci build 7'],
      toolEnv(home),
    );
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout) as { registry: string; credential: string; id: string; username: string; scope: string; expires_in: number; name: string; expires_at: string };
    seen.add(answer.credential);
    expect(answer).toMatchObject({ registry: registry.host, scope: 'repository:team/app:pull', expires_in: 120, name: 'ci build 7', username: answer.id });
    expect(Date.parse(answer.expires_at) - Date.now()).toBeLessThanOrEqual(120_000);
    // The narrowing holds at the realm: push is not granted.
    expect(await registryAccepts(answer.credential, 'repository:team/app:pull,push')).toEqual({ granted: 'repository:team/app:pull', status: 200 });
  });

  it('the default target is $DOCKER_CONFIG/config.json, kept with what else is in it; --json says where, without the secret', async () => {
    const dockerDir = mkdtempSync(join(dir, 'docker-env-'));
    writeFileSync(join(dockerDir, 'config.json'), JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, detachKeys: 'ctrl-x' }));
    const result = await login([registry.host, '--insecure', ...base(), '--json'], { ...env, DOCKER_CONFIG: dockerDir, REGISTRY_TOKEN_CLIENT_SECRET: CLIENT.clientSecret });
    expect(result.code, result.stderr).toBe(0);
    const written = JSON.parse(readFileSync(join(dockerDir, 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string; auth: string }>; detachKeys: string };
    expect(written.detachKeys).toBe('ctrl-x');
    expect(written.auths['other.example']).toEqual({ auth: 'eDp5' });
    const credential = written.auths[registry.host]!.identitytoken!;
    seen.add(credential);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ registry: registry.host, tokenService: `${stack.url}/`, files: [join(dockerDir, 'config.json')] });
    expect(summary).not.toHaveProperty('credential');
    expect(result.stdout).not.toContain(credential);
  });

  it('--token-service names the service when the registry cannot be asked', async () => {
    const result = await login(['registry.invalid:5000', ...base(), '--client-secret-file', secretFile, '--token-service', `${stack.url}/token`, '--print'], env);
    expect(result.code, result.stderr).toBe(0);
    seen.add(result.stdout.trim());
    expect((await registryAccepts(result.stdout.trim(), 'repository:library/base:pull')).status).toBe(200);
  });

  it('refuses a client secret on the command line without echoing it', async () => {
    for (const args of [['--client-secret', CLIENT.clientSecret], [`--client-secret=${CLIENT.clientSecret}`]]) {
      const result = await login([registry.host, '--insecure', ...base(), ...args], env);
      expectOneLineError(result, /--client-secret is not accepted: a secret on the command line is visible to every user of this machine; use --client-secret-file FILE or \$REGISTRY_TOKEN_CLIENT_SECRET/);
    }
  });

  it('each failure is one line a person can act on, exit 1', async () => {
    const wrong = join(dir, 'wrong-secret');
    writeFileSync(wrong, 'not-the-secret');
    const closed = await freePort();
    const noScope = join(dir, 'no-scope-secret');
    writeFileSync(noScope, CLIENTS.find((c) => c.clientId === 'no-scope')!.clientSecret);
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [[registry.host, '--insecure', ...base(), '--client-secret-file', wrong], /the Authority refused the client credentials grant: invalid_client .*check the client id "team-dpop" and its secret/],
      [[registry.host, '--insecure', ...base()], /no client secret: give --client-secret-file FILE or set \$REGISTRY_TOKEN_CLIENT_SECRET/],
      [[registry.host, '--insecure', ...base(), '--client-secret-file', join(dir, 'nope')], /nope: the client secret file cannot be read \(ENOENT\)/],
      [[registry.host, '--insecure', '--issuer', `http://127.0.0.1:${closed}`, '--client-id', 'x', '--client-secret-file', secretFile], new RegExp(`cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`)],
      [[registry.host, ...base(), '--client-secret-file', secretFile], new RegExp(`cannot reach https://${registry.host.replace(/\./g, '\\.')} \\(.*\\); if it speaks plain HTTP, add --insecure`)],
      [[registry.host, '--issuer', 'http://authority.example', '--client-id', 'x', '--client-secret-file', secretFile, '--token-service', stack.url], /--issuer: http:\/\/authority\.example is plain HTTP/],
      [[registry.host, '--insecure', '--client-id', 'x'], /--issuer is required \(see registry-token login --help\)/],
      [[registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--expires-in', '10m'], /--expires-in: "10m" is not a positive whole number of seconds/],
      [[registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--expires-in', '5'], /the token service refused to issue a credential \(400 invalid_request\): .*expires_in/],
      [[registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--authority-scope', 'profile.read'], /the Authority refused the client credentials grant: invalid_scope .*\(--authority-scope\)/],
      [[registry.host, '--insecure', ...base('no-scope'), '--client-secret-file', noScope, '--authority-scope', 'profile.read'], /the token service refused to issue a credential \((401|403) \w+\): .*registry\.token\.issue/],
      [[registry.host, '--insecure', ...base(), '--client-secret-file', secretFile, '--print', '--auth-file', '/tmp/x'], /--print writes nothing/],
      [['a', 'b', ...base()], /one registry at a time/],
      [[registry.host, '--bogus'], /Unknown option '--bogus' \(see registry-token login --help\)/],
    ];
    for (const [args, pattern, extra] of cases) expectOneLineError(await login(args, { ...env, ...extra }), pattern);
  });

  it('--help and --version', async () => {
    const help = await login(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: registry-token login REGISTRY/);
    expect(help.stdout).toContain('--client-secret-file FILE');
    const version = await login(['--version'], env);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^registry-token \d+\.\d+\.\d+\n$/) });
  });

  it('no credential reached the service log or ledger', () => {
    expect(seen.size).toBeGreaterThanOrEqual(4);
    const logs = stack.logs() + treeText(stack.dir);
    for (const credential of seen) expect(logs).not.toContain(credential);
  });
});
