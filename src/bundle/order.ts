// A credential bundle order as the CLI parsed it, and what it prints once the kit is written:
// shared by the two ways the CLI gets it issued (here, with the service configuration; or by a
// running service, through its admin API).

/** What the operator ordered, parsed and checked before anything is issued. */
export interface Order {
  readonly subject: string;
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly tenant: string | undefined;
  readonly scopes: readonly string[];
  readonly expiresIn: number;
  /** One entry per credential. */
  readonly names: readonly (string | undefined)[];
  readonly created: string;
  readonly out: string;
  readonly force: boolean;
}

export interface Listed {
  readonly id: string;
  readonly file: string;
  readonly expiresAt: string;
}

export const summary = (order: Order, signedBy: string, listed: readonly Listed[]): string =>
  `${JSON.stringify({ dir: order.out, kind: 'credentials', created: order.created, signedBy, credentials: listed.map((c) => ({ id: c.id, file: c.file, expiresAt: c.expiresAt })) }, null, 2)}\n`;

export const writeFailed = (listed: readonly Listed[], error: unknown): Error =>
  new Error(`the credentials ${listed.map((c) => c.id).join(', ')} were issued and recorded, but the bundle could not be written (${(error as Error).message}); revoke them by id`);

