/**
 * A real local development OIDC Authority, built on `oidc-provider`.
 *
 * It issues client_credentials JWT access tokens ("OpToks") for one audience
 * (the registry token service), sender-constrained by DPoP (RFC 9449,
 * `cnf.jkt`) or by a client certificate (RFC 8705, `cnf["x5t#S256"]`), or
 * unbound for testing refusals. Used by the integration tests and `npm run demo`.
 *
 * Not for production: clients are static, state lives in memory, and the
 * client certificate of an mTLS token request reaches the Authority in an
 * `x-client-cert` header (URL-encoded PEM) that it trusts from its own test
 * client. The binding written into the token is real (SHA-256 of that DER).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, X509Certificate } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import type {
  Adapter,
  AdapterPayload,
  ClientMetadata,
  Configuration,
  KoaContextWithOIDC,
  ResourceServer,
} from 'oidc-provider';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';

export type DevBinding = 'dpop' | 'mtls' | 'none';

export interface DevClient {
  clientId: string;
  clientSecret: string;
  /** 'dpop': DPoP proof required; 'mtls': certificate required; 'none': plain unbound bearer token. */
  binding: DevBinding;
  /** Space separated scopes the client may ask for, e.g. 'registry.token.issue registry.token.admin'. */
  scope: string;
  /** Extra claims put into every access token of this client. Registered claims (iss, sub, aud, exp, iat, nbf, jti, cnf, client_id, scope) are ignored. */
  claims?: Record<string, unknown>;
}

export interface AuthorityOptions {
  /** The `aud` of every access token (the token service's expected audience). */
  audience: string;
  clients: DevClient[];
  /** Access token lifetime. Default 300. */
  accessTokenTtlSeconds?: number;
  /** Port on 127.0.0.1. Default 0 (ephemeral). */
  port?: number;
  /** Access token signing algorithm. Default 'ES256'. */
  signingAlg?: 'RS256' | 'ES256';
  /** Require a DPoP nonce at the token endpoint (exercises the `use_dpop_nonce` retry). Default false. */
  requireDpopNonce?: boolean;
  /** Scopes the Authority knows besides those of `clients` (needed for scopes of clients added later with `addClient`). */
  extraScopes?: string[];
  /**
   * Sign with this private JWK (with its `alg`) instead of a key generated per start: a restarted
   * Authority keeps its keys (see test/battery/support/authority-process.ts).
   */
  signingKey?: JWK;
  /** Sees every request first; returns true when it answered it (fault injection in tests). */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface TokenRequestOptions {
  /** Space separated scopes to ask for. Default: all scopes of the client. '' sends no scope parameter. */
  scope?: string;
}

export interface DevAuthority {
  /** e.g. http://127.0.0.1:PORT (discovery at issuer + '/.well-known/openid-configuration'). */
  readonly issuer: string;
  /** The JWKS URI advertised in discovery. */
  readonly jwksUri: string;
  /** The token endpoint advertised in discovery. */
  readonly tokenEndpoint: string;
  /** The audience put into every access token. */
  readonly audience: string;
  /** The resource indicator (RFC 8707) the Authority uses for `audience`. */
  readonly resource: string;
  /** The public JWKS (e.g. to write a `jwksPath` file for air-gapped tests). */
  readonly jwks: { keys: JWK[] };
  /** client_credentials with a DPoP proof made by oauth4webapi from `dpopKeys`; returns the DPoP-bound JWT access token. */
  tokenWithDpop(clientId: string, dpopKeys: webcrypto.CryptoKeyPair, opts?: TokenRequestOptions): Promise<string>;
  /** client_credentials where the Authority binds the token to this client certificate (PEM). */
  tokenWithCertificate(clientId: string, certificatePem: string, opts?: TokenRequestOptions): Promise<string>;
  /** Plain client_credentials, unbound. */
  tokenUnbound(clientId: string, opts?: TokenRequestOptions): Promise<string>;
  /** Registers another client at run time. Its scopes must be known at start (a scope of `clients` or of `extraScopes`). */
  addClient(client: DevClient): Promise<void>;
  close(): Promise<void>;
}

/** The Authority refused a token request (an OAuth error response). */
export class AuthorityError extends Error {
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly status: number;

  constructor(error: string, errorDescription: string | undefined, status: number, options?: ErrorOptions) {
    super(`Authority refused the token request: ${error}${errorDescription ? ` (${errorDescription})` : ''}`, options);
    this.name = 'AuthorityError';
    this.error = error;
    this.errorDescription = errorDescription;
    this.status = status;
  }
}

const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'cnf', 'client_id', 'scope']);

const CLIENT_CERT_HEADER = 'x-client-cert';

/** RFC 8707 wants an absolute URI as resource indicator; map a plain audience to a URN. */
function resourceFor(audience: string): string {
  const url = URL.parse(audience);
  if (url && !audience.includes('#')) return url.href;
  return `urn:registry-token:audience:${encodeURIComponent(audience)}`;
}

/** A minimal in-memory oidc-provider adapter (one per model name), so the provider's dev-adapter warning stays quiet. */
function memoryAdapterFactory(store: Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>) {
  return class MemoryAdapter implements Adapter {
    readonly name: string;

    constructor(name: string) {
      this.name = name;
    }

    #key(id: string): string {
      return `${this.name}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      store.set(this.#key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const key = this.#key(id);
      const entry = store.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
        store.delete(key);
        return undefined;
      }
      return entry.payload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      for (const [key, entry] of store) {
        if (key.startsWith(`${this.name}:`) && entry.payload.userCode === userCode) return entry.payload;
      }
      return undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      for (const [key, entry] of store) {
        if (key.startsWith(`${this.name}:`) && entry.payload.uid === uid) return entry.payload;
      }
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const entry = store.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      store.delete(this.#key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of store) {
        if (entry.payload.grantId === grantId) store.delete(key);
      }
    }
  };
}

function clientMetadata(client: DevClient): ClientMetadata {
  if (!client.clientId) throw new TypeError('DevClient.clientId is required');
  if (!client.clientSecret) throw new TypeError(`DevClient ${client.clientId}: clientSecret is required`);
  if (!['dpop', 'mtls', 'none'].includes(client.binding)) {
    throw new TypeError(`DevClient ${client.clientId}: binding must be 'dpop', 'mtls' or 'none'`);
  }
  return {
    client_id: client.clientId,
    client_secret: client.clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: splitScope(client.scope).join(' ') || undefined,
    ...(client.binding === 'dpop' ? { dpop_bound_access_tokens: true } : {}),
    ...(client.binding === 'mtls' ? { tls_client_certificate_bound_access_tokens: true } : {}),
  };
}

function splitScope(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter((s) => s.length > 0);
}

function certificateFromHeader(ctx: KoaContextWithOIDC): X509Certificate | undefined {
  const raw = ctx.get(CLIENT_CERT_HEADER);
  if (!raw) return undefined;
  try {
    return new X509Certificate(decodeURIComponent(raw));
  } catch {
    return undefined;
  }
}

/** The public members of an EC or RSA JWK. */
function publicPart(jwk: JWK): JWK {
  if (jwk.kty === 'EC') return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === 'RSA') return { kty: jwk.kty, n: jwk.n, e: jwk.e };
  throw new TypeError(`unsupported signing key type ${String(jwk.kty)}`);
}

/** Starts the Authority on 127.0.0.1 (ephemeral port unless `port` is given). */
export async function startAuthority(options: AuthorityOptions): Promise<DevAuthority> {
  const audience = options.audience;
  if (!audience) throw new TypeError('AuthorityOptions.audience is required');
  const resource = resourceFor(audience);
  const ttl = options.accessTokenTtlSeconds ?? 300;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new TypeError('accessTokenTtlSeconds must be a positive integer');
  const alg = (options.signingKey?.alg as 'RS256' | 'ES256' | undefined) ?? options.signingAlg ?? 'ES256';

  const clients = new Map<string, DevClient>();
  for (const client of options.clients) {
    if (clients.has(client.clientId)) throw new TypeError(`duplicate DevClient ${client.clientId}`);
    clientMetadata(client); // validate
    clients.set(client.clientId, { ...client });
  }

  // Signing key, generated per start unless one is given.
  let privateJwk: JWK;
  if (options.signingKey === undefined) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    privateJwk = await exportJWK(privateKey);
  } else {
    privateJwk = options.signingKey;
  }
  const publicJwk = publicPart(privateJwk);
  const kid = await calculateJwkThumbprint(publicJwk);
  const signingJwk = { ...privateJwk, kid, alg, use: 'sig' };
  const jwks = { keys: [{ ...publicJwk, kid, alg, use: 'sig' }] };

  // Listen first: the issuer contains the port.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (options.intercept?.(req, res) === true) return;
    if (handler) handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  // Scopes the provider knows: a client asking for one of these that it was not given is refused (invalid_scope).
  const knownScopes = new Set<string>(['openid']);
  for (const client of clients.values()) for (const s of splitScope(client.scope)) knownScopes.add(s);
  for (const s of options.extraScopes ?? []) knownScopes.add(s);

  const store = new Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>();

  const configuration: Configuration = {
    adapter: memoryAdapterFactory(store),
    clients: [...clients.values()].map(clientMetadata),
    jwks: { keys: [signingJwk] },
    scopes: knownScopes as unknown as string[],
    claims: { openid: ['sub'] },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: alg,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      userinfo: { enabled: false },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => options.requireDpopNonce === true,
      },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: certificateFromHeader,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator, client): ResourceServer => {
          if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            // Only what this client was given can end up in its token.
            scope: client.scope ?? '',
            audience,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg, kid } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: ttl,
      AccessToken: ttl,
    },
    extraTokenClaims: (_ctx, token) => {
      const claims = token.clientId === undefined ? undefined : clients.get(token.clientId)?.claims;
      if (!claims) return undefined;
      return Object.fromEntries(Object.entries(claims).filter(([name]) => !REGISTERED_CLAIMS.has(name)));
    },
    // Keep error bodies terse and never render HTML.
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };

  let provider: Provider;
  let as: oauth.AuthorizationServer;
  try {
    provider = new Provider(issuer, configuration);
    handler = provider.callback();

    // ---- client side (oauth4webapi) ----
    const issuerUrl = new URL(issuer);
    as = await oauth.processDiscoveryResponse(
      issuerUrl,
      await oauth.discoveryRequest(issuerUrl, { [oauth.allowInsecureRequests]: true }),
    );
    if (!as.token_endpoint || !as.jwks_uri) throw new Error('Authority discovery lacks token_endpoint or jwks_uri');
  } catch (err) {
    server.closeAllConnections();
    server.close();
    throw err;
  }

  function lookup(clientId: string): DevClient {
    const client = clients.get(clientId);
    if (!client) throw new Error(`unknown dev client ${clientId}`);
    return client;
  }

  function parameters(client: DevClient, opts: TokenRequestOptions | undefined): URLSearchParams {
    const scope = opts?.scope ?? client.scope;
    const params = new URLSearchParams();
    if (splitScope(scope).length > 0) params.set('scope', splitScope(scope).join(' '));
    return params;
  }

  async function request(
    client: DevClient,
    opts: TokenRequestOptions | undefined,
    extra: { dpop?: oauth.DPoPHandle; headers?: Record<string, string> },
  ): Promise<string> {
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const auth = oauth.ClientSecretBasic(client.clientSecret);
    const params = parameters(client, opts);
    for (let attempt = 0; ; attempt++) {
      const response = await oauth.clientCredentialsGrantRequest(as, oauthClient, auth, params, {
        [oauth.allowInsecureRequests]: true,
        ...(extra.dpop ? { DPoP: extra.dpop } : {}),
        ...(extra.headers ? { headers: extra.headers } : {}),
      });
      try {
        const result = await oauth.processClientCredentialsResponse(as, oauthClient, response);
        return result.access_token;
      } catch (err) {
        // One retry when the Authority asks for a DPoP nonce (the handle has stored it).
        if (extra.dpop && attempt === 0 && oauth.isDPoPNonceError(err)) continue;
        if (err instanceof oauth.ResponseBodyError) {
          throw new AuthorityError(err.error, err.error_description, err.status, { cause: err });
        }
        throw err;
      }
    }
  }

  const dpopHandles = new WeakMap<webcrypto.CryptoKeyPair, oauth.DPoPHandle>();
  let closed = false;

  return {
    issuer,
    jwksUri: as.jwks_uri,
    tokenEndpoint: as.token_endpoint,
    audience,
    resource,
    jwks,

    async tokenWithDpop(clientId, dpopKeys, opts) {
      const client = lookup(clientId);
      // One handle per key pair, so a DPoP nonce learnt once is reused by later requests.
      let dpop = dpopHandles.get(dpopKeys);
      if (!dpop) {
        dpop = oauth.DPoP({}, dpopKeys);
        dpopHandles.set(dpopKeys, dpop);
      }
      return request(client, opts, { dpop });
    },

    async tokenWithCertificate(clientId, certificatePem, opts) {
      const client = lookup(clientId);
      return request(client, opts, { headers: { [CLIENT_CERT_HEADER]: encodeURIComponent(certificatePem) } });
    },

    async tokenUnbound(clientId, opts) {
      return request(lookup(clientId), opts, {});
    },

    async addClient(client) {
      if (clients.has(client.clientId)) throw new TypeError(`duplicate DevClient ${client.clientId}`);
      const metadata = clientMetadata(client);
      // oidc-provider copies its `scopes` at start: a client can only be registered with scopes known then.
      const unknown = splitScope(client.scope).filter((s) => !knownScopes.has(s));
      if (unknown.length > 0) {
        throw new TypeError(`DevClient ${client.clientId}: unknown scope(s) ${unknown.join(' ')}; list them in AuthorityOptions.extraScopes`);
      }
      await provider.Client.validate(metadata);
      clients.set(client.clientId, { ...client });
      // Looked up by oidc-provider through the adapter of the "Client" model.
      store.set(`Client:${client.clientId}`, { payload: metadata as AdapterPayload, expiresAt: undefined });
    },

    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
