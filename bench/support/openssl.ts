// The floor the targets are measured against: `openssl speed rsa2048` on this machine, one
// process and -multi <cores>, run by the bench itself so both figures come from the same run.
import { execFile } from 'node:child_process';

export interface RsaSpeed {
  /** Signatures per second. */
  readonly signPerSecond: number;
  readonly command: string;
}

function speed(args: string[]): Promise<RsaSpeed> {
  const command = `openssl ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 120_000 }, (error, stdout) => {
      if (error) return reject(new Error(`${command} failed: ${error.message}`));
      // "rsa 2048 bits 0.000249s 0.000017s   4018.6  58635.0": the last table line.
      const match = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+[\d.]+\s*$/m.exec(stdout);
      if (match === null) return reject(new Error(`${command}: no "rsa 2048 bits" line in its output`));
      resolve({ signPerSecond: Number(match[1]), command });
    });
  });
}

export async function rsaSpeed(seconds: number, cores: number): Promise<{ single: RsaSpeed; multi: RsaSpeed }> {
  const single = await speed(['speed', '-seconds', String(seconds), 'rsa2048']);
  const multi = cores > 1 ? await speed(['speed', '-seconds', String(seconds), '-multi', String(cores), 'rsa2048']) : single;
  return { single, multi };
}
