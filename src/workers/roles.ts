// What the primary tells a worker when it joins, and the names both ends use.

/** The worker's slot, 1..server.workers: a replaced worker takes the slot (and ledger chain) of the one it replaces. */
export const SLOT_ENV = 'REGISTRY_WORKER_SLOT';

export interface Welcome {
  readonly slot: number;
  /** authority.dpop.nonceSecret, or one the primary made for this run: every worker accepts every nonce. */
  readonly nonceSecret: string;
  /** Where runtime revocations live with the memory driver (see src/store/primary.ts). */
  readonly revocations: 'primary' | 'ledger';
}

/** Response header naming the worker that answered (its slot): for operators and the tests. */
export const WORKER_HEADER = 'x-worker';
