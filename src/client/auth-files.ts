// Where docker and the containers tools (podman, buildah, skopeo) look for a registry's
// credential: `auths[host]` in Docker's config.json and in containers' auth.json (the same
// format). The credential goes in as an identity token, so clients POST it to the realm as a
// refresh_token; `auth` holds "username:" because containers/image ignores an entry whose
// `auth` does not decode to user:password, identity token included.
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../record/atomic-file.ts';
import { ClientError } from './errors.ts';

/** DIR/config.json; DIR defaults to $DOCKER_CONFIG, then ~/.docker, as for docker itself. */
export function dockerConfigFile(dir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return join(dir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

type AuthFile = Record<string, unknown> & { auths?: Record<string, unknown>; credHelpers?: Record<string, unknown>; credsStore?: unknown };

async function readAuthFile(path: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ClientError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') return {};
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new ClientError(`${path}: not valid JSON, left as it is; fix or remove it and log in again`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ClientError(`${path}: not a JSON object, left as it is; fix or remove it and log in again`);
  }
  const file = document as AuthFile;
  if (file.auths !== undefined && (typeof file.auths !== 'object' || file.auths === null || Array.isArray(file.auths))) {
    throw new ClientError(`${path}: "auths" is not an object, left as it is`);
  }
  return file;
}

/**
 * Writes `auths[registry] = {auth: base64("username:"), identitytoken: credential}` into the
 * file, keeping everything else in it, atomically and 0600. Returns warnings about entries that
 * make the clients look elsewhere (credHelpers, credsStore); they never name a secret.
 */
export async function writeIdentityToken(path: string, registry: string, username: string, credential: string): Promise<string[]> {
  const file = await readAuthFile(path);
  const warnings: string[] = [];
  const helper = file.credHelpers?.[registry];
  if (typeof helper === 'string') {
    warnings.push(`${path}: credHelpers sends ${registry} to docker-credential-${helper}, which is asked before this entry`);
  } else if (typeof file.credsStore === 'string' && file.credsStore !== '') {
    warnings.push(`${path}: credsStore "${file.credsStore}" is asked before auths; the credential written here may not be used`);
  }
  const auths = { ...(file.auths ?? {}) };
  auths[registry] = { auth: Buffer.from(`${username}:`).toString('base64'), identitytoken: credential };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify({ ...file, auths }, null, '\t')}\n`, 0o600);
  return warnings;
}
