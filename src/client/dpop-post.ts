// One POST with an OpTok and a DPoP proof (oauth4webapi), shared by `registry-token login`
// (POST /credentials) and `bundle credentials --url` (the admin API).
import * as oauth from 'oauth4webapi';
import type { DpopKeys } from './dpop-key.ts';
import { timedFetch } from './http.ts';

/**
 * Resolves with the service's answer, refusals (401/403 challenges) included; rejects only when
 * no answer came. A `use_dpop_nonce` answer is retried once: the handle has kept the nonce.
 */
export async function dpopPost(url: URL, opTok: string, keys: DpopKeys, contentType: string, body: string): Promise<Response> {
  const dpop = oauth.DPoP({}, keys);
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await oauth.protectedResourceRequest(
        opTok,
        'POST',
        url,
        new Headers({ 'content-type': contentType, accept: 'application/json' }),
        body,
        { DPoP: dpop, [oauth.customFetch]: timedFetch, ...(url.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}) },
      );
    } catch (error) {
      if (attempt === 0 && oauth.isDPoPNonceError(error)) continue;
      if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response;
      throw error;
    }
  }
}
