// What every `registry-token` subcommand is: a name, its options (with their help), and run().
// main.ts owns parsing, --help, --version, --json and exit codes, so a new subcommand is one
// file plus one line in its table.

/** Exit statuses, the same for every subcommand (docs/operations.md, "The CLI"). */
export const EXIT = {
  /** Done; for a check (`explain`, `ledger verify`), the answer is yes. */
  ok: 0,
  /** Ran, and the answer is no: `explain` refused, `ledger verify` found a break, `serve` could not start or stop cleanly. */
  no: 1,
  /** Could not run as asked: usage, configuration, a missing file or directory, an unsupported Node. */
  usage: 2,
} as const;

/** Bad flags or arguments: printed with the command's usage, exit 2. */
export class UsageError extends Error {}

export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  /** Placeholder shown in help (`FILE`, `DIR`); string flags only. */
  readonly arg?: string;
  readonly multiple?: boolean;
  readonly short?: string;
}

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Output {
  /** --json was given: write one JSON document (or JSON lines) on stdout instead of text. */
  readonly json: boolean;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface CommandArgs {
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly out: Output;
}

export interface Command {
  readonly name: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** After `registry-token <name> `: the synopsis. */
  readonly synopsis: string;
  /** Paragraphs shown by --help below the synopsis. */
  readonly description: string;
  readonly flags: Readonly<Record<string, Flag>>;
  /** Accepts --json (machine-readable output). */
  readonly json: boolean;
  /** Commands under this one (`ledger verify`); then `run` is absent. */
  readonly subcommands?: readonly Command[];
  run?(args: CommandArgs): Promise<number>;
}

export function stringFlag(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function listFlag(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

export function booleanFlag(values: Values, name: string): boolean {
  return values[name] === true;
}

export const CONFIG_FLAG: Flag = {
  type: 'string',
  arg: 'FILE',
  help: 'configuration file (default: $REGISTRY_TOKEN_CONFIG); REGISTRY_TOKEN_* variables override its keys',
};
