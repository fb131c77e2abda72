// What the client tools (registry-token login, docker-credential-registry-token) tell their
// user when something fails: one line a person can act on. The service's own errors live in
// src/domain/errors.ts and are rendered over HTTP; these are rendered by a terminal, so they
// stay apart. A message never carries a secret (token, credential, client secret, key).

export class ClientError extends Error {
  /** A mistake in how the command was called (wrong flag, missing argument). */
  readonly usage: boolean;

  constructor(message: string, options: { usage?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.usage = options.usage ?? false;
  }
}

/** One line for any error: a ClientError as it is, anything else by its message, never a stack. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, '; ');
}
