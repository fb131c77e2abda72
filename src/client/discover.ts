// Where a registry sends its clients for tokens: `GET /v2/` answers 401 with
// `WWW-Authenticate: Bearer realm="<token service>/token",service="..."`.
import { parseChallenges } from './challenge.ts';
import { ClientError } from './errors.ts';
import { request } from './http.ts';
import { secureUrl, tokenServiceBase, type RegistryName } from './urls.ts';

export interface TokenServiceLocation {
  /** Base URL: /token and /credentials hang below it. */
  readonly base: URL;
  /** The `service` the registry names in its challenge, when it does. */
  readonly service: string | undefined;
}

export async function discoverTokenService(registry: RegistryName, insecure: boolean): Promise<TokenServiceLocation> {
  const scheme = registry.scheme ?? (insecure ? 'http' : 'https');
  const probe = new URL(`${scheme}://${registry.host}/v2/`);
  let response: Response;
  try {
    response = await request(probe, { redirect: 'follow' });
  } catch (error) {
    const tls = /^ERR_SSL|EPROTO|ECONNRESET/.test(String((error as { cause?: { cause?: { code?: string } } }).cause?.cause?.code ?? ''));
    if (scheme === 'https' && tls) throw new ClientError(`${(error as Error).message}; if it speaks plain HTTP, add --insecure`);
    throw error;
  }
  await response.body?.cancel();
  if (response.status !== 401) {
    throw new ClientError(
      `GET ${probe.href} answered ${response.status}, not 401: the registry does not ask for a token there; name the token service with --token-service URL`,
    );
  }
  const header = response.headers.get('www-authenticate') ?? '';
  const bearer = parseChallenges(header).find((challenge) => challenge.scheme === 'bearer');
  const realm = bearer?.params.realm;
  if (realm === undefined || realm === '') {
    throw new ClientError(
      `GET ${probe.href} asks for ${header === '' ? 'no scheme' : `"${header.split(/[\s,]/)[0]}"`}, not a Bearer realm: name the token service with --token-service URL`,
    );
  }
  // The realm comes from the registry: over plain HTTP it is only as trustworthy as that answer.
  const realmUrl = secureUrl(realm, `the realm ${realm} advertised by ${registry.host}`, insecure || scheme === 'http');
  return { base: tokenServiceBase(realmUrl), service: bearer?.params.service };
}
