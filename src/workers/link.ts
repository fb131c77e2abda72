// Requests and notices between the primary and one worker over the cluster IPC channel. Each
// side may call the other (a worker asks the primary's store; the primary asks a worker for its
// metrics); an error crosses as its name, message and the fields the caller re-throws it with.
import type { Link, LinkError } from '../store/primary.ts';

/** `process` in a worker, a cluster Worker in the primary. */
export interface Channel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  isConnected(): boolean;
}

export type Handlers = Record<string, (...args: never[]) => unknown>;

interface Request { readonly rt: 'req'; readonly id: number; readonly op: string; readonly args: unknown[] }
interface Reply { readonly rt: 'res'; readonly id: number; readonly value?: unknown; readonly error?: LinkError }
interface Notice { readonly rt: 'note'; readonly kind: string }

const isOurs = (m: unknown): m is Request | Reply | Notice =>
  typeof m === 'object' && m !== null && ['req', 'res', 'note'].includes((m as { rt?: string }).rt ?? '');

export class LinkClosedError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'LinkClosedError';
  }
}

export function openLink(channel: Channel, handlers: Handlers, options: { readonly timeoutMs: number }): Link & { close(): void } {
  let next = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  const listeners = new Set<(kind: string) => void>();

  const onMessage = (message: unknown) => {
    if (!isOurs(message)) return; // cluster's own messages share the channel
    if (message.rt === 'note') {
      for (const listener of listeners) listener(message.kind);
      return;
    }
    if (message.rt === 'res') {
      const waiting = pending.get(message.id);
      if (waiting === undefined) return;
      pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.error === undefined) waiting.resolve(message.value);
      else waiting.reject(Object.assign(new Error(message.error.message), message.error));
      return;
    }
    const handler = handlers[message.op] as ((...args: unknown[]) => unknown) | undefined;
    const answer = (reply: Omit<Reply, 'rt' | 'id'>) => {
      if (channel.isConnected()) channel.send({ rt: 'res', id: message.id, ...reply });
    };
    if (handler === undefined) {
      answer({ error: { name: 'Error', message: `no handler for ${message.op}` } });
      return;
    }
    Promise.resolve()
      .then(() => handler(...message.args))
      .then(
        (value) => answer({ value }),
        (error: unknown) => answer({ error: toLinkError(error) }),
      );
  };
  channel.on('message', onMessage);

  return {
    call(op, ...args) {
      if (!channel.isConnected()) return Promise.reject(new LinkClosedError('the IPC channel is closed'));
      const id = ++next;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new LinkClosedError(`no answer to ${op} within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
        pending.set(id, { resolve, reject, timer });
        channel.send({ rt: 'req', id, op, args } satisfies Request);
      });
    },
    onNotice(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      channel.off('message', onMessage);
      for (const [id, waiting] of pending) {
        clearTimeout(waiting.timer);
        waiting.reject(new LinkClosedError('the link was closed'));
        pending.delete(id);
      }
    },
  };
}

export function notify(channel: Channel, kind: string): void {
  if (channel.isConnected()) channel.send({ rt: 'note', kind } satisfies Notice);
}

function toLinkError(error: unknown): LinkError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const fields: Record<string, unknown> = {};
  for (const key of ['retryAfterMs', 'capacity', 'reason', 'detail'] as const) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number' || typeof value === 'string') fields[key] = value;
  }
  return { name: error.name, message: error.message, ...fields };
}
