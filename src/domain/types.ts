// Types shared by the pipeline stages. Stages depend on these, never on each other's internals.

/** How an OpTok is bound to the caller (RFC 9449 `cnf.jkt`, RFC 8705 `cnf.x5t#S256`). */
export type RootBinding =
  | { readonly method: 'dpop'; readonly jkt: string }
  | { readonly method: 'mtls'; readonly x5t: string }
  | { readonly method: 'none' };

/**
 * How the caller proved who it is: an OpTok and its binding, or a registry credential (by its
 * id) that was issued, once, to an OpTok with the binding `root` (`operator`: by an operator,
 * in a credential bundle).
 */
export type SenderBinding =
  | RootBinding
  | {
      readonly method: 'credential';
      readonly id: string;
      readonly root: RootBinding['method'] | 'operator';
      /** Where the client put it: a Basic password on GET /token, or the form of POST /token. */
      readonly presented: CredentialPresentation;
    };

/** How a registry credential reached the service: auditors tell `docker login` from an identity token. */
export type CredentialPresentation = 'basic' | 'refresh_token' | 'password';

/** Who is calling, as established by the authenticate stage from a verified OpTok. */
export interface Principal {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly tenant: string | undefined;
  /** The plan claim as carried by the OpTok; undefined when absent. */
  readonly plan: string | undefined;
  readonly license: string | undefined;
  /** The OpTok's own `jti`, for the ledger. */
  readonly tokenId: string | undefined;
  /** OAuth scopes: the OpTok's, or for a registry credential those it carried over (`op_scope`). */
  readonly scopes: ReadonlySet<string>;
  readonly binding: SenderBinding;
  /** The scheme the caller used, so challenges answer in kind; Basic: presented as a password. */
  readonly scheme: 'Bearer' | 'DPoP' | 'Basic';
  /**
   * A registry credential's narrowing: space-separated scopes with plan patterns
   * (`repository:team/**:pull`), intersected with the plan; undefined: no narrowing.
   */
  readonly narrowing?: string | undefined;
  /** The username sent with a password (Basic, form): recorded, never used to decide. */
  readonly username?: string | undefined;
}

/** One Docker resource scope: `type[(class)]:name:actions`. */
export interface ResourceScope {
  readonly type: string;
  readonly class: string | undefined;
  readonly name: string;
  readonly actions: readonly string[];
}

/** One entry of the registry token's `access` claim. */
export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

/** The authorize stage's answer: a denial is a value (empty actions), not an exception. */
export interface Decision {
  readonly plan: string;
  readonly access: AccessEntry[];
  /** Per requested scope, the plan rule that granted it (for `explain` and logs). */
  readonly reasons: readonly { readonly scope: string; readonly rule: string | undefined; readonly granted: readonly string[]; readonly refused?: 'cross_tenant' }[];
  /** Requested scopes refused because they name another tenant's namespace (`tenancy.namespaces`). */
  readonly crossTenant?: readonly string[];
}

/** A minted registry token. */
export interface MintedToken {
  readonly token: string;
  readonly jti: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly expiresIn: number;
}

/** A clock we can freeze in tests. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
