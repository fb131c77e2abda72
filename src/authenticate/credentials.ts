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
}
