// `bundle credentials --url`: the CLI as a thin client of a running service's admin API, for
// when `serve` holds the ledger. The operator's own Authority client (client credentials,
// DPoP-bound, the admin scope) gets the OpTok, exactly as `registry-token login` gets one; the
// service issues, records and answers the kit, which is written out as it came.
import { obtainOpTok, type AuthorityClientOptions } from '../client/authority.ts';
import { ephemeralKeys } from '../client/dpop-key.ts';
import { ClientError } from '../client/errors.ts';
import { dpopPost } from '../client/dpop-post.ts';
import { readClientSecret } from '../client/client-secret.ts';
import { endpoint, secureUrl, tokenServiceBase } from '../client/urls.ts';
import { filesOfAnswer } from './answer.ts';
import { BundleUsageError, type Io } from './io.ts';
import { writeBundleFiles } from './manifest.ts';
import { summary, writeFailed, type Listed, type Order } from './order.ts';

export type RemoteAnswer =
  | { readonly ok: true; readonly answer: unknown }
  /** The service refused the order (its reason code and message). */
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

export async function orderFromService(base: URL, authority: AuthorityClientOptions, body: Record<string, unknown>): Promise<RemoteAnswer> {
  const keys = await ephemeralKeys();
  const opTok = await obtainOpTok(authority, keys);
  const url = endpoint(base, 'admin/bundles/credentials');
  let response: Response;
  try {
    response = await dpopPost(url, opTok, keys, 'application/json', JSON.stringify(body));
  } catch (error) {
    throw new ClientError(`POST ${url.href} failed: ${(error as Error).message}`, { cause: error });
  }
  let answer: unknown;
  try {
    answer = await response.json();
  } catch {
    throw new ClientError(`POST ${url.href} answered ${response.status} without a JSON body`);
  }
  if (response.status === 201) return { ok: true, answer };
  const problem = answer as { code?: unknown; detail?: unknown };
  const code = typeof problem.code === 'string' ? problem.code : `HTTP ${response.status}`;
  const hint = response.status === 404 ? ': this service does not serve credential bundles (is it older, or credentials.enabled false?)' : '';
  return { ok: false, status: response.status, code, message: `${typeof problem.detail === 'string' ? problem.detail : 'refused'}${hint}` };
}

/** Through a running service's admin API, with the operator's own Authority client. */
export async function orderThere(order: Order, flags: Record<string, string | boolean | string[] | undefined>, io: Io): Promise<number> {
  const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
  for (const flag of ['issuer', 'client-id']) if (text(flag) === undefined) throw new BundleUsageError(`bundle credentials --url needs --${flag} (the operator's client at the Authority)`);
  if (text('config') !== undefined) throw new BundleUsageError('--url orders from the running service, which has its own configuration: --config does not go with it');
  const insecure = flags['insecure'] === true;
  const base = tokenServiceBase(secureUrl(text('url')!, '--url', insecure));
  const authority = {
    issuer: secureUrl(text('issuer')!, '--issuer', insecure),
    clientId: text('client-id')!,
    clientSecret: await readClientSecret(text('client-secret-file'), io.env),
    scope: text('authority-scope') ?? 'registry.token.admin',
    resource: text('resource'),
  };
  const named = order.names.every((name) => name !== undefined);
  const body = {
    subject: order.subject,
    ...(order.plan === undefined ? {} : { plan: order.plan }),
    ...(order.license === undefined ? {} : { license: order.license }),
    ...(order.tenant === undefined ? {} : { tenant: order.tenant }),
    scope: [...order.scopes],
    expires_in: order.expiresIn,
    ...(named ? { names: order.names } : { count: order.names.length }),
    created: order.created,
  };
  const result = await orderFromService(base, authority, body);
  if (!result.ok) {
    io.stderr(`registry-token: bundle credentials: refused (${result.code}): ${result.message}\n`);
    return 1;
  }
  const kit = filesOfAnswer(result.answer);
  const answer = result.answer as { credentials?: Listed[]; signedBy?: { kid?: string } };
  if (kit === undefined || !Array.isArray(answer.credentials)) throw new Error(`${base.href}: the answer is not a credential bundle`);
  try {
    await writeBundleFiles(order.out, kit.files, kit.created, { force: order.force });
  } catch (error) {
    throw writeFailed(answer.credentials, error);
  }
  io.stdout(summary(order, answer.signedBy?.kid ?? '', answer.credentials));
  return 0;
}

