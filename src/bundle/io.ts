// What the bundle commands write to and read from, apart from the process so tests can pass their own.
import { bundleTime } from './canonical.ts';

/** Bad options or an unusable input: printed with the usage, exit 2. */
export class BundleUsageError extends Error {}

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => Date;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  now: () => new Date(),
};

/** `--created`, else SOURCE_DATE_EPOCH, else now (canonical.ts, bundleTime). */
export function createdTime(value: string | undefined, io: Io): string {
  try {
    return bundleTime(value, io.env, io.now);
  } catch (error) {
    throw new BundleUsageError((error as Error).message);
  }
}
