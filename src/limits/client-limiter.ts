// The per-client rate limit as the pipeline sees it: called once an exchange is authenticated,
// so the key is who the caller proved to be, not what it claims. No Fastify types here.
import type { PendingProof } from '../authenticate/authenticate.ts';
import type { Principal } from '../domain/types.ts';

export interface ClientLimiter {
  /**
   * Records the proof's first use (when there is one) and counts the client, counting only a
   * proof that was fresh. Resolves when the client may go on; throws the proof's refusal, or
   * TooManyRequestsError when the client is over its limit.
   */
  admit(principal: Principal, proof: PendingProof | undefined): Promise<void>;
}

/** Rate limits off: the proof's first use is still recorded. */
export const noClientLimit: ClientLimiter = {
  async admit(_principal, proof) {
    await proof?.record();
  },
};
