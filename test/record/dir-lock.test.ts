// One owner per ledger directory, spool directory and revocations file, across processes; a
// holder that died (SIGKILL) never blocks its successor.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, LockHeldError } from '../../src/record/dir-lock.ts';
import { openFileLedger } from '../../src/record/file.ts';
import { RevocationFile } from '../../src/record/revocation-store.ts';
import { SpoolFiles } from '../../src/record/spool-files.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { exportLedger } from '../../src/record/export.ts';
import { CLI } from '../support/process.ts';
import { record, recordingLogger, tempDir } from './fixtures.ts';

async function thrown(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const LOCK_MODULE = new URL('../../src/record/dir-lock.ts', import.meta.url).pathname;

/** A child process that takes the lock, says so, and then waits to be killed. */
function holdInChild(dir: string, name: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const script = `import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
await acquireLock(${JSON.stringify(dir)}, ${JSON.stringify(name)}, 'test');
process.stdout.write('held\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    child.stdout.once('data', () =>
      resolve({
        pid: child.pid!,
        kill: () => new Promise<void>((done) => {
          child.removeAllListeners('exit');
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
      }),
    );
  });
}

/** Children that all try to take the lock at the same instant; each says whether it got it. */
async function race(dir: string, name: string, count: number): Promise<string[]> {
  const startAt = Date.now() + 1500;
  const script = `import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
while (Date.now() < ${startAt}) {}
try { await acquireLock(${JSON.stringify(dir)}, ${JSON.stringify(name)}, 'test'); process.stdout.write('held'); setTimeout(() => process.exit(0), 800); }
catch (error) { process.stdout.write(error.name); process.exit(0); }`;
  return Promise.all(
    Array.from({ length: count }, () =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', () => resolve(out));
      }),
    ),
  );
}

describe('directory lock', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('refuses a second file ledger on the same directory in one process, naming the holder', async () => {
    const first = await openFileLedger({ dir: dir.path });
    try {
      const error = await thrown(openFileLedger({ dir: dir.path }));
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as Error).message).toContain(`pid ${process.pid}`);
      expect((error as Error).message).toContain(`ledger directory ${dir.path}`);
    } finally {
      await first.close();
    }
    const again = await openFileLedger({ dir: dir.path });
    await again.append(record(1));
    await again.close();
  });

  it('refuses while a live process holds the lock, and takes over once it was SIGKILLed', async () => {
    const holder = await holdInChild(dir.path, 'ledger');
    const error = await thrown(openFileLedger({ dir: dir.path }));
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as LockHeldError).holder).toMatchObject({ pid: holder.pid, host: hostname() });
    expect((error as Error).message).toMatch(new RegExp(`pid ${holder.pid} on host .+ since \\d{4}-\\d\\d-\\d\\dT`));
    await holder.kill();
    const ledger = await openFileLedger({ dir: dir.path });
    await ledger.append(record(1));
    await ledger.close();
    expect((await verifyLedger(dir.path)).records).toBe(1);
  });

  it('of many processes racing for a dead holder\'s lock, exactly one gets it', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const holder = await holdInChild(dir.path, 'ledger');
      await holder.kill();
      const outcomes = await race(dir.path, 'ledger', 6);
      expect(outcomes.filter((o) => o === 'held'), `round ${round}: ${outcomes.join(' ')}`).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'LockHeldError')).toHaveLength(5);
    }
  });

  it('falls back to the pid where no socket can be bound (a path too long for one)', async () => {
    const deep = join(dir.path, 'd'.repeat(120));
    await mkdir(deep);
    const holder = await holdInChild(deep, 'ledger');
    const lockText = await readFile(join(deep, '.ledger.lock'), 'utf8');
    expect(JSON.parse(lockText).socket).toBeUndefined();
    expect(await thrown(acquireLock(deep, 'ledger', 'test'))).toBeInstanceOf(LockHeldError);
    await holder.kill();
    const lock = await acquireLock(deep, 'ledger', 'test');
    await lock.release();
  });

  it('never takes over a lock held from another host', async () => {
    const lock = await acquireLock(dir.path, 'ledger', 'test');
    const lockPath = lock.path;
    const text = await readFile(lockPath, 'utf8');
    await lock.release();
    await writeFile(lockPath, text.replace(JSON.stringify(hostname()), '"elsewhere.example"'));
    const error = await thrown(openFileLedger({ dir: dir.path }));
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toContain('on host elsewhere.example');
    expect((error as Error).message).toContain(lockPath);
  });

  it('locks the spool directory and the revocations file too', async () => {
    const spool = await SpoolFiles.open(join(dir.path, 'spool'), recordingLogger());
    expect(await thrown(SpoolFiles.open(join(dir.path, 'spool'), recordingLogger()))).toBeInstanceOf(LockHeldError);
    await spool.close();
    await (await SpoolFiles.open(join(dir.path, 'spool'), recordingLogger())).close();

    const revocations = await RevocationFile.open(join(dir.path, 'revocations.json'));
    const error = await thrown(RevocationFile.open(join(dir.path, 'revocations.json')));
    expect((error as Error).message).toContain('revocations file');
    await revocations.close();
  });

  it('verify and export refuse a directory that does not exist', async () => {
    const missing = join(dir.path, 'nope');
    expect((await thrown(verifyLedger(missing))).message).toBe(`ledger directory ${missing} does not exist`);
    expect((await thrown(exportLedger(missing, {}, process.stdout))).message).toContain('does not exist');
    const cli = spawnSync(process.execPath, [CLI, 'ledger', 'verify', '--path', missing], { encoding: 'utf8', timeout: 15_000 });
    // docs/operations.md: both exit 2 when the path is wrong.
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('does not exist');
  });
});
