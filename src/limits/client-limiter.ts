// The per-client rate limit as the pipeline sees it: called once an exchange is authenticated,
// so the key is who the caller proved to be, not what it claims. No Fastify types here.
import type { Principal } from '../domain/types.ts';

export interface ClientLimiter {
  /** Resolves when the client may go on; throws TooManyRequestsError when it is over its limit. */
  admit(principal: Principal): Promise<void>;
}

export const noClientLimit: ClientLimiter = {
  async admit() {},
};
