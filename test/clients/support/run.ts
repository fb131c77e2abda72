// Runs a client program the way a person does, as one argument array (never a shell), with a
// timeout that kills it, and answers what it printed; a program that is not installed is an
// error naming it and its Debian package, never a skipped test.
import { execFile } from 'node:child_process';
import { PACKAGE_OF } from '../../support/tools.ts';

export interface Outcome {
  /** Exit status; null when killed. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

export function missing(binary: string): Error {
  const pkg = PACKAGE_OF[binary.split('/').pop()!];
  return new Error(`${binary} is not installed: install ${pkg === undefined ? 'it' : `the Debian package ${pkg}`} (bash .ci/run installs every client the tests drive)`);
}

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 90_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT') return reject(missing(file));
        const timedOut = error !== null && (error as { killed?: boolean }).killed === true;
        resolve({ code: error === null ? 0 : typeof code === 'number' ? code : null, stdout, stderr, timedOut });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.stdin ?? '');
  });
}
