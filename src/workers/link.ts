// Requests and notices between the primary and one worker over the cluster IPC channel. Each
// side may call the other (a worker asks the primary's store; the primary asks a worker for its
// metrics); an error crosses as its name, message and the fields the caller re-throws it with.
//
// Requests and replies made in one turn of the event loop go out as one message (a batch, sent
// from setImmediate): every exchange asks the store three or four times, and each IPC message
// costs ~10 µs of CPU on each side before its content, so at load the per-message cost is paid
// once per turn instead of once per question (docs/performance.md). Timeouts are checked by one
// timer per link, not one per call.
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
interface Batch { readonly rt: 'batch'; readonly items: readonly (Request | Reply)[] }

const isOurs = (m: unknown): m is Request | Reply | Notice | Batch =>
  typeof m === 'object' && m !== null && ['req', 'res', 'note', 'batch'].includes((m as { rt?: string }).rt ?? '');

interface Waiting {
  readonly op: string;
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

export class LinkClosedError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'LinkClosedError';
  }
}

export function openLink(channel: Channel, handlers: Handlers, options: { readonly timeoutMs: number }): Link & { close(): void } {
  let next = 0;
  // Insertion order is deadline order: the sweep stops at the first call still in time.
  const pending = new Map<number, Waiting>();
  const listeners = new Set<(kind: string) => void>();
  let outbox: (Request | Reply)[] = [];
  let flushing = false;
  let sweeper: NodeJS.Timeout | undefined;

  const flush = () => {
    flushing = false;
    const items = outbox;
    outbox = [];
    if (items.length === 0 || !channel.isConnected()) return;
    channel.send(items.length === 1 ? items[0] : ({ rt: 'batch', items } satisfies Batch));
  };
  const post = (item: Request | Reply) => {
    outbox.push(item);
    if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  };

  const sweep = () => {
    const now = Date.now();
    for (const [id, waiting] of pending) {
      if (waiting.deadline > now) break;
      pending.delete(id);
      waiting.reject(new LinkClosedError(`no answer to ${waiting.op} within ${options.timeoutMs} ms`));
    }
    if (pending.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  const onItem = (message: Request | Reply) => {
    if (message.rt === 'res') {
      const waiting = pending.get(message.id);
      if (waiting === undefined) return;
      pending.delete(message.id);
      if (message.error === undefined) waiting.resolve(message.value);
      else waiting.reject(Object.assign(new Error(message.error.message), message.error));
      return;
    }
    const handler = handlers[message.op] as ((...args: unknown[]) => unknown) | undefined;
    const answer = (reply: Omit<Reply, 'rt' | 'id'>) => post({ rt: 'res', id: message.id, ...reply });
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

  const onMessage = (message: unknown) => {
    if (!isOurs(message)) return; // cluster's own messages share the channel
    if (message.rt === 'note') {
      for (const listener of listeners) listener(message.kind);
      return;
    }
    if (message.rt === 'batch') {
      for (const item of message.items) onItem(item);
      return;
    }
    onItem(message);
  };
  channel.on('message', onMessage);

  return {
    call(op, ...args) {
      if (!channel.isConnected()) return Promise.reject(new LinkClosedError('the IPC channel is closed'));
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { op, deadline: Date.now() + options.timeoutMs, resolve, reject });
        sweeper ??= setInterval(sweep, Math.max(10, Math.floor(options.timeoutMs / 4)));
        post({ rt: 'req', id, op, args });
      });
    },
    onNotice(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      channel.off('message', onMessage);
      if (sweeper !== undefined) clearInterval(sweeper);
      sweeper = undefined;
      for (const [id, waiting] of pending) {
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
