// fetch with a deadline, and network failures said in one line.
import { ClientError } from './errors.ts';

export const REQUEST_TIMEOUT_MS = 15_000;

/** "cannot reach http://host:port (ECONNREFUSED)" instead of "fetch failed". */
export function unreachable(url: URL, error: unknown): ClientError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason =
    (error as Error).name === 'TimeoutError'
      ? `no answer in ${REQUEST_TIMEOUT_MS / 1000} s`
      : (cause?.code ?? cause?.message ?? (error as Error).message ?? String(error));
  return new ClientError(`cannot reach ${url.origin} (${reason})`, { cause: error });
}

export async function request(url: URL, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw unreachable(url, error);
  }
}

/** A fetch for oauth4webapi's customFetch: the same deadline and the same one-line failure. */
export const timedFetch: typeof fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  return request(url, init ?? {});
};
