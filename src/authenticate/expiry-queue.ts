// A binary min-heap on expiry time. Proofs expire at iat + window, and iat is the client's,
// so entries no longer arrive in expiry order: a heap finds the next one to expire in O(log n).
export class ExpiryQueue<T> {
  readonly #at: number[] = [];
  readonly #values: T[] = [];

  get size(): number {
    return this.#at.length;
  }

  /** The earliest expiry, or undefined when empty. */
  peekAt(): number | undefined {
    return this.#at[0];
  }

  push(at: number, value: T): void {
    this.#at.push(at);
    this.#values.push(value);
    let i = this.#at.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#at[parent]! <= at) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** Removes and returns the entry expiring first. */
  pop(): { at: number; value: T } | undefined {
    if (this.#at.length === 0) return undefined;
    const top = { at: this.#at[0]!, value: this.#values[0]! };
    const lastAt = this.#at.pop()!;
    const lastValue = this.#values.pop()!;
    if (this.#at.length > 0) {
      this.#at[0] = lastAt;
      this.#values[0] = lastValue;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.#at.length && this.#at[left]! < this.#at[smallest]!) smallest = left;
        if (right < this.#at.length && this.#at[right]! < this.#at[smallest]!) smallest = right;
        if (smallest === i) break;
        this.#swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  #swap(a: number, b: number): void {
    [this.#at[a], this.#at[b]] = [this.#at[b]!, this.#at[a]!];
    [this.#values[a], this.#values[b]] = [this.#values[b]!, this.#values[a]!];
  }
}
