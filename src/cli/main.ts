// The `registry-token` command: finds the subcommand in the table, parses its flags, answers
// --help and --version everywhere, and turns every error into a one-line message and an exit
// status (command.ts: EXIT). A new subcommand is one file and one line in COMMANDS.
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../domain/errors.ts';
import { checkConfigCommand } from './check-config.ts';
import { EXIT, UsageError, type Command, type Output } from './command.ts';
import { explainCommand } from './explain.ts';
import { keygenCommand } from './keygen.ts';
import { ledgerCommand } from './ledger.ts';
import { serveCommand } from './serve.ts';

export const COMMANDS: readonly Command[] = [serveCommand, checkConfigCommand, explainCommand, keygenCommand, ledgerCommand];

const NAME = 'registry-token';

export function version(): string {
  // src/cli/ and dist/cli/ are both two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function overview(): string {
  const width = Math.max(...COMMANDS.flatMap((c) => (c.subcommands ?? [c]).map((s) => (c.subcommands ? `${c.name} ${s.name}` : c.name).length)));
  const rows = COMMANDS.flatMap((c) =>
    (c.subcommands === undefined ? [[c.name, c.summary]] : c.subcommands.map((s) => [`${c.name} ${s.name}`, s.summary])),
  );
  return [
    `usage: ${NAME} <command> [options]`,
    '',
    'commands:',
    ...rows.map(([name, summary]) => `  ${name!.padEnd(width)}  ${summary}`),
    `  ${'login'.padEnd(width)}  obtain a registry credential and store it for docker/podman (its own --help)`,
    '',
    `${NAME} <command> --help shows a command's options; ${NAME} --version its version.`,
    'Exit status: 0 done (for a check: yes), 1 ran and the answer is no, 2 could not run as asked.',
    'The configuration file defaults to $REGISTRY_TOKEN_CONFIG; REGISTRY_TOKEN_* variables override keys.',
  ].join('\n');
}

function help(command: Command, path: string): string {
  if (command.subcommands !== undefined) {
    return [
      `usage: ${NAME} ${command.synopsis}`,
      '',
      command.description,
      '',
      'commands:',
      ...command.subcommands.map((s) => `  ${s.synopsis}\n      ${s.summary}`),
      '',
      `${NAME} ${path} <command> --help shows its options.`,
    ].join('\n');
  }
  const flags: [string, string][] = Object.entries(command.flags).map(([name, flag]) => [`--${name}${flag.arg === undefined ? '' : ` ${flag.arg}`}`, flag.help]);
  if (command.json) flags.push(['--json', 'machine-readable output (JSON) instead of text']);
  flags.push(['-h, --help', 'this help'], ['-V, --version', 'the version']);
  const width = Math.max(...flags.map(([flag]) => flag.length));
  return [
    `usage: ${NAME} ${command.synopsis}`,
    '',
    command.description,
    '',
    'options:',
    ...flags.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join('\n');
}

function parserOptions(command: Command): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  };
  if (command.json) options['json'] = { type: 'boolean' };
  for (const [name, flag] of Object.entries(command.flags)) {
    options[name] = { type: flag.type, ...(flag.multiple === true ? { multiple: true } : {}), ...(flag.short === undefined ? {} : { short: flag.short }) };
  }
  return options;
}

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';
const isVersion = (arg: string | undefined) => arg === '--version' || arg === '-V' || arg === 'version';

/** Resolves with the exit status; writes only through `out`. */
export async function main(argv: readonly string[], io: Pick<Output, 'stdout' | 'stderr'>): Promise<number> {
  let usageOf = overview();
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      io.stderr(`${overview()}\n`);
      return EXIT.usage;
    }
    if (isVersion(first)) {
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    if (isHelp(first)) {
      const topic = COMMANDS.find((c) => c.name === rest[0]);
      const sub = topic?.subcommands?.find((s) => s.name === rest[1]);
      io.stdout(`${topic === undefined ? overview() : sub === undefined ? help(topic, topic.name) : help(sub, `${topic.name} ${sub.name}`)}\n`);
      return EXIT.ok;
    }
    // A client command with its own options, output and errors (src/client/), not an operator one.
    if (first === 'login') {
      const { loginCommand } = await import('../client/login-command.ts');
      return await loginCommand(rest);
    }
    let command = COMMANDS.find((c) => c.name === first);
    if (command === undefined) throw new UsageError(`unknown command "${first}"`);
    let path = command.name;
    let args = rest;
    if (command.subcommands !== undefined) {
      usageOf = help(command, path);
      const [name, ...subArgs] = args;
      if (name === undefined || isHelp(name)) {
        io.stdout(`${usageOf}\n`);
        return name === undefined ? EXIT.usage : EXIT.ok;
      }
      if (isVersion(name)) {
        io.stdout(`${version()}\n`);
        return EXIT.ok;
      }
      const sub = command.subcommands.find((s) => s.name === name);
      if (sub === undefined) throw new UsageError(`${command.name} has no command "${name}" (${command.subcommands.map((s) => s.name).join(', ')})`);
      command = sub;
      path = `${path} ${sub.name}`;
      args = subArgs;
    }
    usageOf = help(command, path);
    const { values, positionals } = parseArgs({ args: [...args], options: parserOptions(command), allowPositionals: true, strict: true });
    if (values['help'] === true) {
      io.stdout(`${usageOf}\n`);
      return EXIT.ok;
    }
    if (values['version'] === true) {
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const out: Output = { json: values['json'] === true, stdout: io.stdout, stderr: io.stderr };
    return await command.run!({ values, positionals, out });
  } catch (error) {
    if (error instanceof ConfigError) io.stderr(`${NAME}: ${error.message}\n`);
    else if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`${NAME}: ${(error as Error).message}\n${usageOf}\n`);
    } else io.stderr(`${NAME}: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.usage;
  }
}
