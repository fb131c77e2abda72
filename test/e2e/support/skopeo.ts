// skopeo 1.9 wrappers for end-to-end tests. They never throw on a failed command: they
// resolve {code, stdout, stderr} so a test can assert refusals. The registry is plain
// http on 127.0.0.1, hence `--*-tls-verify=false` on every docker:// side (skopeo then
// tries https, fails, and falls back to http). `--insecure-policy` keeps the result
// independent of /etc/containers/policy.json.
import { spawn } from 'node:child_process';

export const SKOPEO_BINARY = process.env['SKOPEO_BINARY_PATH'] ?? 'skopeo';
const DEFAULT_TIMEOUT_MS = 60_000;

export interface SkopeoResult {
  /** Exit code; -1 when killed (timeout) or not started. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string>;
  /** Written to skopeo's stdin (e.g. `login --password-stdin`). */
  stdin?: string;
}

/** Credentials for one side of a command. `token` wins over `creds`; `noCreds` is anonymous. */
export interface SideAuth {
  /** `--registry-token`: sent as `Authorization: Bearer` straight to the registry (the realm is never asked). */
  token?: string;
  /** `--creds user:password`: skopeo asks the registry's realm for a token itself. */
  creds?: string;
  /** `--no-creds`: anonymous. */
  noCreds?: boolean;
  /** `--authfile`. */
  authFile?: string;
  /** `--tls-verify`; default false (plain-http registry on 127.0.0.1). */
  tlsVerify?: boolean;
}

export interface CopyOptions extends RunOptions {
  src?: SideAuth;
  dest?: SideAuth;
  /** Shorthands for src.token / dest.token. */
  srcToken?: string;
  destToken?: string;
  /** More `skopeo copy` flags, e.g. ['--all'] or ['--format', 'oci']. */
  extraArgs?: string[];
}

export interface InspectOptions extends RunOptions, SideAuth {
  /** `--raw`: the manifest bytes as stored. */
  raw?: boolean;
  /** `--config`: the image config instead of the summary. */
  config?: boolean;
  extraArgs?: string[];
}

export interface DeleteOptions extends RunOptions, SideAuth {
  extraArgs?: string[];
}

/** `docker://127.0.0.1:PORT/team/app:tag` from a registry host and repository. */
export function dockerRef(host: string, repository: string, tagOrDigest = 'latest'): string {
  const sep = tagOrDigest.startsWith('sha256:') ? '@' : ':';
  return `docker://${host}/${repository}${sep}${tagOrDigest}`;
}

/** Runs `skopeo --insecure-policy ARGS...` and resolves its outcome; kills it with SIGKILL on timeout. */
export function runSkopeo(args: readonly string[], options: RunOptions = {}): Promise<SkopeoResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = spawn(SKOPEO_BINARY, ['--insecure-policy', ...args], {
      env: { ...process.env, ...options.env },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (code: number, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr + extra, timedOut });
    };
    child.on('error', (err) => finish(-1, `\n[harness] cannot run ${SKOPEO_BINARY}: ${err.message}`));
    child.on('close', (code) => finish(code ?? -1, timedOut ? `\n[harness] skopeo killed after ${timeoutMs} ms` : ''));
    if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  });
}

function sideFlags(ref: string, prefix: '' | 'src-' | 'dest-', auth: SideAuth | undefined): string[] {
  const flags: string[] = [];
  if (!ref.startsWith('docker://')) return flags;
  flags.push(`--${prefix}tls-verify=${auth?.tlsVerify === true ? 'true' : 'false'}`);
  if (auth?.token !== undefined) flags.push(`--${prefix}registry-token`, auth.token);
  else if (auth?.creds !== undefined) flags.push(`--${prefix}creds`, auth.creds);
  else if (auth?.noCreds === true) flags.push(`--${prefix}no-creds`);
  if (auth?.authFile !== undefined) flags.push(`--${prefix}authfile`, auth.authFile);
  return flags;
}

/** `skopeo copy SRC DEST`, e.g. `oci:/dir:tag` → `docker://127.0.0.1:PORT/team/app:tag`. */
export function skopeoCopy(src: string, dest: string, options: CopyOptions = {}): Promise<SkopeoResult> {
  const srcAuth: SideAuth | undefined =
    options.srcToken !== undefined ? { ...options.src, token: options.srcToken } : options.src;
  const destAuth: SideAuth | undefined =
    options.destToken !== undefined ? { ...options.dest, token: options.destToken } : options.dest;
  const args = [
    'copy',
    ...sideFlags(src, 'src-', srcAuth),
    ...sideFlags(dest, 'dest-', destAuth),
    ...(options.extraArgs ?? []),
    src,
    dest,
  ];
  return runSkopeo(args, options);
}

/** `skopeo inspect REF` (with `--raw` / `--config` on request). */
export function skopeoInspect(ref: string, options: InspectOptions = {}): Promise<SkopeoResult> {
  const args = ['inspect', ...sideFlags(ref, '', options)];
  if (options.raw === true) args.push('--raw');
  if (options.config === true) args.push('--config');
  args.push(...(options.extraArgs ?? []), ref);
  return runSkopeo(args, options);
}

/** `skopeo delete REF` (the registry must allow deletes; the harness config does). */
export function skopeoDelete(ref: string, options: DeleteOptions = {}): Promise<SkopeoResult> {
  return runSkopeo(['delete', ...sideFlags(ref, '', options), ...(options.extraArgs ?? []), ref], options);
}

/**
 * `skopeo login HOST` with the password on stdin, into `authFile` (keep it in a temp dir:
 * never the user's own). skopeo asks the realm with no scope here.
 */
export function skopeoLogin(
  host: string,
  username: string,
  password: string,
  authFile: string,
  options: RunOptions & { tlsVerify?: boolean } = {},
): Promise<SkopeoResult> {
  return runSkopeo(
    [
      'login',
      `--tls-verify=${options.tlsVerify === true ? 'true' : 'false'}`,
      '--authfile',
      authFile,
      '--username',
      username,
      '--password-stdin',
      host,
    ],
    { ...options, stdin: password },
  );
}
