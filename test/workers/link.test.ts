// The IPC link between the primary and a worker: what is asked in one turn of the event loop
// travels as one message, every answer reaches its caller, an error keeps its fields, and a
// call nobody answers fails after the timeout.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LinkClosedError, openLink, type Channel } from '../../src/workers/link.ts';

/** Two ends of a channel that copy each message later, as the cluster channel does, and count them. */
function channelPair() {
  const sent = { a: 0, b: 0 };
  const a = new EventEmitter();
  const b = new EventEmitter();
  const end = (self: EventEmitter, other: EventEmitter, name: 'a' | 'b'): Channel => ({
    send: (message: unknown) => {
      sent[name] += 1;
      setImmediate(() => other.emit('message', structuredClone(message)));
      return true;
    },
    on: (event, listener) => self.on(event, listener),
    off: (event, listener) => self.off(event, listener),
    isConnected: () => true,
  });
  return { worker: end(a, b, 'a'), primary: end(b, a, 'b'), sent };
}

describe('the worker-primary link', () => {
  it('sends the calls of one turn as one message, and the replies as one', async () => {
    const { worker, primary, sent } = channelPair();
    const host = openLink(primary, { double: (n: number) => n * 2 }, { timeoutMs: 2000 });
    const link = openLink(worker, {}, { timeoutMs: 2000 });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => link.call('double', i)));
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(sent).toEqual({ a: 1, b: 1 });
    // A lone call is a message of its own, answered as before.
    await expect(link.call('double', 21)).resolves.toBe(42);
    expect(sent).toEqual({ a: 2, b: 2 });
    link.close();
    host.close();
  });

  it('re-throws an error with its name and fields, and names a missing handler', async () => {
    const { worker, primary } = channelPair();
    const host = openLink(primary, {
      refuse: () => {
        throw Object.assign(new Error('share exceeded'), { name: 'ReplayShareExceededError', retryAfterMs: 1500 });
      },
    }, { timeoutMs: 2000 });
    const link = openLink(worker, {}, { timeoutMs: 2000 });
    await expect(link.call('refuse')).rejects.toMatchObject({ name: 'ReplayShareExceededError', message: 'share exceeded', retryAfterMs: 1500 });
    await expect(link.call('nothing')).rejects.toThrow('no handler for nothing');
    link.close();
    host.close();
  });

  it('fails a call that is not answered within the timeout, and every call still waiting on close', async () => {
    const { worker } = channelPair();
    const link = openLink(worker, {}, { timeoutMs: 100 });
    const started = Date.now();
    const error = await link.call('check').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinkClosedError);
    expect((error as Error).message).toBe('no answer to check within 100 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    const waiting = link.call('check');
    link.close();
    await expect(waiting).rejects.toThrow('the link was closed');
  });
});
