// One login, for both tools: an OpTok from the Authority bound to `keys`, then a registry
// credential from the token service, asked with a proof made by the same keys.
import { obtainOpTok, type AuthorityClientOptions } from './authority.ts';
import { requestCredential, type CredentialRequest, type IssuedCredential } from './credentials-api.ts';
import type { DpopKeys } from './dpop-key.ts';

export interface LoginPlan {
  authority: AuthorityClientOptions;
  /** Base URL of the token service (POST <base>/credentials). */
  tokenService: URL;
  credential: CredentialRequest;
}

export async function obtainCredential(plan: LoginPlan, keys: DpopKeys): Promise<IssuedCredential> {
  const opTok = await obtainOpTok(plan.authority, keys);
  return requestCredential(plan.tokenService, opTok, keys, plan.credential);
}
