#!/usr/bin/env node
// docker-credential-registry-token: the credential helper docker and the containers tools run
// for a registry named in `credHelpers` (src/client/helper-source.ts says what each action does).
import { oneLine } from './errors.ts';
import { runHelperAction } from './helper-protocol.ts';
import { helperSource } from './helper-source.ts';
import { loadSettings, settingsPath } from './settings.ts';
import { packageVersion } from './version.ts';

const NAME = 'docker-credential-registry-token';

const USAGE = `usage: ${NAME} get|store|erase|list|version
A docker-credential-helpers helper: docker, podman, buildah and skopeo run it for the registries
named in "credHelpers" of their config.json / auth.json. "get" reads a server URL on stdin and
prints {"ServerURL","Username":"<token>","Secret"} with a registry credential minted on demand.
Settings: $REGISTRY_TOKEN_HELPER_CONFIG, else ${settingsPath()}
  --help      this text
  --version   the version`;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const [action] = argv;
  if (action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const version = `${NAME} (registry-token) ${packageVersion()}`;
  if (action === '--version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (argv.length !== 1 || action === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 1;
  }
  const stdin = action === 'get' || action === 'store' || action === 'erase' ? await readStdin() : '';
  let answer;
  try {
    const settings = action === 'version' || action === 'store' ? undefined : await loadSettings();
    answer = await runHelperAction(action, stdin, helperSource(settings), version);
  } catch (error) {
    answer = { stdout: `${oneLine(error)}\n`, code: 1 as const };
  }
  process.stdout.write(answer.stdout);
  return answer.code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stdout.write(`${oneLine(error)}\n`);
    process.exitCode = 1;
  },
);
