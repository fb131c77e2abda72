// The Authority client secret: from a file or from $REGISTRY_TOKEN_CLIENT_SECRET, never from the
// command line, where every user of the machine can read it (ps, /proc/PID/cmdline) and the
// shell keeps it in its history.
import { readFile } from 'node:fs/promises';
import { ClientError } from './errors.ts';

export const CLIENT_SECRET_ENV = 'REGISTRY_TOKEN_CLIENT_SECRET';

/** `--client-secret VALUE` / `--client-secret=VALUE` anywhere in argv (the value is never repeated). */
export function refuseSecretOnCommandLine(argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === '--') return;
    if (arg === '--client-secret' || arg.startsWith('--client-secret=')) {
      const flag = arg.split('=')[0];
      throw new ClientError(
        `${flag} is not accepted: a secret on the command line is visible to every user of this machine; use --client-secret-file FILE or $${CLIENT_SECRET_ENV}`,
        { usage: true },
      );
    }
  }
}

/** The secret from `file`, else from the environment; a trailing newline is not part of it. */
export async function readClientSecret(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let secret: string | undefined;
  if (file !== undefined) {
    try {
      secret = await readFile(file, 'utf8');
    } catch (error) {
      throw new ClientError(`${file}: the client secret file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    secret = secret.replace(/\r?\n$/, '');
    if (secret === '') throw new ClientError(`${file}: the client secret file is empty`);
    return secret;
  }
  secret = env[CLIENT_SECRET_ENV];
  if (secret === undefined || secret === '') {
    throw new ClientError(`no client secret: give --client-secret-file FILE or set $${CLIENT_SECRET_ENV}`, { usage: true });
  }
  return secret;
}
