// Holds the key set in force and swaps it whole on reload, so a request signs with either the
// old or the new active key, never a mixture, and the JWKS changes in the same instant. It also
// remembers until when each key may still have valid tokens out there, to warn when a reload
// retires a key too early (its tokens would stop verifying wherever the JWKS is the trust).
import type { KeySet } from './key-set.ts';

export interface KeySetChange {
  /** kid of the active key before and after. */
  readonly activeBefore: string;
  readonly activeAfter: string;
  /** kids newly published / no longer published. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Removed keys whose tokens were still valid: kid and the ISO time the last one expires. */
  readonly removedEarly: readonly { readonly kid: string; readonly tokensValidUntil: string }[];
}

export class KeySetHolder {
  #current: KeySet;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  /** kid -> when it stopped being the active key. */
  readonly #retiredAt = new Map<string, number>();

  constructor(initial: KeySet, options: { lifetimeSeconds: number; now: () => number }) {
    this.#current = initial;
    this.#lifetimeMs = options.lifetimeSeconds * 1000;
    this.#now = options.now;
    // Keys published but not active may have signed before this process started (another
    // replica, the previous run): assume their tokens are as fresh as they could be.
    const started = this.#now();
    for (const key of initial.published) if (key.kid !== initial.active.keyId) this.#retiredAt.set(key.kid, started);
  }

  current(): KeySet {
    return this.#current;
  }

  replace(next: KeySet): KeySetChange {
    const before = this.#current;
    const now = this.#now();
    const kids = (set: KeySet) => new Set(set.published.map((key) => key.kid));
    const was = kids(before);
    const will = kids(next);
    if (before.active.keyId !== next.active.keyId) {
      this.#retiredAt.set(before.active.keyId, now);
      this.#retiredAt.delete(next.active.keyId);
    }
    const removed = [...was].filter((kid) => !will.has(kid));
    const removedEarly = removed.flatMap((kid) => {
      // The active key signs until this instant; a key that stopped earlier signed until then.
      const lastSigned = kid === before.active.keyId ? now : this.#retiredAt.get(kid);
      if (lastSigned === undefined || lastSigned + this.#lifetimeMs <= now) return [];
      return [{ kid, tokensValidUntil: new Date(lastSigned + this.#lifetimeMs).toISOString() }];
    });
    for (const kid of removed) this.#retiredAt.delete(kid);
    this.#current = next;
    return {
      activeBefore: before.active.keyId,
      activeAfter: next.active.keyId,
      added: [...will].filter((kid) => !was.has(kid)),
      removed,
      removedEarly,
    };
  }
}
