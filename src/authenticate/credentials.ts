// What the HTTP layer hands to the authenticate stage: raw header values (all of them, so
// duplicates can be refused) and the facts of the connection. No Fastify types here.
export interface Credentials {
  /** Every `Authorization` header value, in order (count them: Node keeps only the first). */
  readonly authorization: readonly string[];
  /** Every `DPoP` header value, in order. */
  readonly dpop: readonly string[];
  /** The HTTP method, upper case. */
  readonly method: string;
  /** The URL this request was made to as clients see it (public URL + path), for `htu`. */
  readonly url: string;
  /** DER of the client certificate: the TLS peer's, or one passed by a trusted proxy. */
  readonly clientCertificate: Buffer | undefined;
  /**
   * A registry credential from an OAuth form body (`POST /token`): the `refresh_token` of that
   * grant, or the `password` (with its `username`). A Basic header stays in `authorization`.
   */
  readonly formCredential?: FormCredential | undefined;
}

export interface FormCredential {
  readonly grant: 'refresh_token' | 'password';
  readonly secret: string;
  readonly username: string | undefined;
}
