// Plays a flow of ../flows.ts: fills in its variables, runs exactly its argument array (with the
// program's global flags and environment from SETUP), and asserts the outcome the table states,
// so what docs/clients.md shows is what the suite saw.
import { expect } from 'vitest';
import { CLI } from '../../support/client-tools.ts';
import { FLOWS, SETUP, flowById, type Program } from '../flows.ts';
import { run, type Outcome } from './run.ts';

const played = new Set<string>();

/** Debian's docker.io CLI, not another `docker` that may come first on PATH. */
export const DOCKER_CLI = '/usr/bin/docker';

export function fill(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(/\$([A-Z][A-Z_]*)/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`flow variable $${name} has no value`);
    return value;
  });
}

/** The environment of a client: this process's, less what would steer it to the real user's files. */
export function clientEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(REGISTRY_TOKEN_|DOCKER_|REGISTRY_AUTH_FILE$|XDG_|CONTAINERS_)/i.test(key)),
  );
  return { ...clean, HOME: home, ...extra };
}

export interface PlayOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

/** Plays flow `id`; resolves its outcome once the table's expectation held. */
export async function play(id: string, vars: Readonly<Record<string, string>>, options: PlayOptions): Promise<Outcome> {
  const flow = flowById(id);
  const [program, ...rest] = flow.argv as [Program, ...string[]];
  const setup = SETUP[program];
  const args = [...setup.globalArgs, ...rest].map((arg) => fill(arg, vars));
  const env = { ...options.env, ...Object.fromEntries(Object.entries(setup.env).map(([k, v]) => [k, fill(v, vars)])) };
  const [file, fileArgs] =
    program === 'registry-token' ? [process.execPath, [CLI, ...args]] : program === 'docker' ? [DOCKER_CLI, args] : [program, args];
  const outcome = await run(file, fileArgs, { env, stdin: flow.stdin === undefined ? undefined : fill(flow.stdin, vars), timeoutMs: options.timeoutMs ?? 120_000 });
  const raw = `${outcome.stdout}\n${outcome.stderr}`;
  // logrus (containers/image) escapes the quotes of the messages it prints: the table quotes
  // them as a person reads them; a JSON body (curl) is matched as printed.
  const printed = raw.includes(fill(flow.fails ?? flow.shows ?? '', vars)) ? raw : raw.replaceAll('\\"', '"');
  const context = `${flow.argv.join(' ')}\nexit ${outcome.code}${outcome.timedOut ? ' (timed out)' : ''}\nstdout: ${outcome.stdout.slice(-1500)}\nstderr: ${outcome.stderr.slice(-1500)}`;
  if (flow.fails === undefined) {
    expect(outcome.code, context).toBe(0);
    if (flow.shows !== undefined) expect(printed, context).toContain(fill(flow.shows, vars));
  } else {
    expect(outcome.timedOut, context).toBe(false);
    expect(outcome.code, context).not.toBe(0);
    const accepted = [flow.fails, ...(flow.orFails === undefined ? [] : [flow.orFails.shows])].map((m) => fill(m, vars));
    expect(accepted.filter((message) => printed.includes(message)), `${context}\nexpected one of ${JSON.stringify(accepted)}`).not.toEqual([]);
  }
  // CLIENTS_SHOW=1 prints what each client said: to read a message before putting it in the table.
  if (process.env['CLIENTS_SHOW'] === '1') console.log(`${id}: exit ${outcome.code}\n${printed.trim().slice(-1500)}`);
  played.add(id);
  return outcome;
}

/** Asserts that every flow whose id starts with one of `prefixes` was played by this file. */
export function expectAllPlayed(...prefixes: string[]): void {
  const expected = FLOWS.filter((f) => prefixes.some((p) => f.id.startsWith(p))).map((f) => f.id);
  expect(expected.filter((id) => !played.has(id)), 'flows of test/clients/flows.ts this file did not play').toEqual([]);
}
