// The docker-credential-helpers protocol, as docker and containers/image speak it: the action is
// the one argument; `get` and `erase` read the server URL on stdin, `store` reads
// {"ServerURL","Username","Secret"}; answers go to stdout as JSON; a failure is its message on
// stdout and exit status 1, and "credentials not found in native keychain" is the message that
// tells the client to carry on without credentials.
import { ClientError, oneLine } from './errors.ts';

export const NOT_FOUND = 'credentials not found in native keychain';
const MISSING_SERVER_URL = 'no credentials server URL';
const MISSING_USERNAME = 'no credentials username';

export interface HelperCredentials {
  ServerURL: string;
  Username: string;
  Secret: string;
}

export interface CredentialSource {
  /** Undefined: this source has nothing for the server (answered NOT_FOUND). */
  get(serverUrl: string): Promise<{ username: string; secret: string } | undefined>;
  store(credentials: HelperCredentials): Promise<void>;
  erase(serverUrl: string): Promise<void>;
  /** Server URL -> username. */
  list(): Promise<Record<string, string>>;
}

export interface HelperAnswer {
  stdout: string;
  code: 0 | 1;
}

const ok = (stdout: string): HelperAnswer => ({ stdout, code: 0 });
const failed = (message: string): HelperAnswer => ({ stdout: `${message}\n`, code: 1 });

function serverUrl(input: string): string {
  const url = input.trim();
  if (url === '') throw new ClientError(MISSING_SERVER_URL);
  return url;
}

function storedCredentials(input: string): HelperCredentials {
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch {
    throw new ClientError('store expects {"ServerURL","Username","Secret"} as JSON on stdin');
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof HelperCredentials, unknown>>;
  if (typeof record.ServerURL !== 'string' || record.ServerURL === '') throw new ClientError(MISSING_SERVER_URL);
  if (typeof record.Username !== 'string' || record.Username === '') throw new ClientError(MISSING_USERNAME);
  return { ServerURL: record.ServerURL, Username: record.Username, Secret: typeof record.Secret === 'string' ? record.Secret : '' };
}

export async function runHelperAction(action: string, stdin: string, source: CredentialSource, version: string): Promise<HelperAnswer> {
  try {
    switch (action) {
      case 'get': {
        const url = serverUrl(stdin);
        const found = await source.get(url);
        if (found === undefined) return failed(NOT_FOUND);
        return ok(`${JSON.stringify({ ServerURL: url, Username: found.username, Secret: found.secret } satisfies HelperCredentials)}\n`);
      }
      case 'store':
        await source.store(storedCredentials(stdin));
        return ok('');
      case 'erase':
        await source.erase(serverUrl(stdin));
        return ok('');
      case 'list':
        return ok(`${JSON.stringify(await source.list())}\n`);
      case 'version':
        return ok(`${version}\n`);
      default:
        return failed(`unknown credential action "${action}" (expected get, store, erase, list or version)`);
    }
  } catch (error) {
    return failed(oneLine(error));
  }
}
