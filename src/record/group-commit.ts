// Group commit: the cost of durability (an fsync, a majority acknowledgement) is paid once per
// group instead of once per record. The first write of a group waits for the end of the current
// turn of the event loop (setImmediate), so every request read in that turn shares it; items
// submitted while a write is in flight wait for it to finish and then go out together in the
// next write, so under load a single fsync covers many requests and latency grows by at most
// one write, not by one write per queued request.

export interface GroupCommitOptions<T> {
  /** Makes one batch durable; resolves only when it is. Called one batch at a time, never concurrently. */
  write(batch: readonly T[]): Promise<void>;
  /** Upper bound on one batch, so one write (and one failure) stays bounded. */
  maxBatch: number;
}

interface Waiter<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommitter<T> {
  readonly #write: (batch: readonly T[]) => Promise<void>;
  readonly #maxBatch: number;
  #queue: Waiter<T>[] = [];
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(options: GroupCommitOptions<T>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new TypeError('maxBatch must be a positive integer');
    }
    this.#write = options.write;
    this.#maxBatch = options.maxBatch;
  }

  /** Items accepted but not yet settled (queued or in the write in flight). */
  get pending(): number {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  /** Resolves when the batch holding `item` is durable; rejects with that batch's error. */
  submit(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('group committer is closed'));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // After the poll phase, not at once: the requests of every socket read in this turn
        // (a burst, a replay loop) share the first write.
        setImmediate(() => void this.#drain());
      }
    });
  }

  /** Resolves once everything submitted so far has settled (whatever the outcome). */
  flush(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Refuses new items, then waits for the ones already accepted. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, this.#maxBatch);
      try {
        await this.#write(group.map((w) => w.item));
        for (const w of group) w.resolve();
      } catch (error) {
        for (const w of group) w.reject(error);
      }
    }
    this.#running = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
