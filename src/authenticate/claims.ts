// The OpTok claims the service reads, with the type each must have. A claim of another type is
// not "absent": an array licence would escape revocation and an array plan fall back to the
// default plan, so a wrong type refuses the OpTok, naming the claim. One schema, built once
// from the configured claim names; jose has already checked iss, aud, exp, nbf and iat.
import { z } from 'zod';
import { AuthenticationError, type Scheme } from '../domain/errors.ts';
import type { Principal, SenderBinding } from '../domain/types.ts';
import { tokenScopes } from './scopes.ts';

export interface ClaimNames {
  plan: string;
  license: string;
  tenant: string;
}

/** The claims as the stage uses them: every one of the expected type, or undefined. */
export interface OpTokClaims {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly tenant: string | undefined;
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly tokenId: string | undefined;
  readonly scope: string | undefined;
  readonly scp: readonly string[] | undefined;
  readonly cnf: { readonly jkt: string | undefined; readonly x5t: string | undefined } | undefined;
}

export type ClaimReader = (payload: Record<string, unknown>, scheme: Scheme) => OpTokClaims;

const STRING = 'a string';
const text = z.string({ error: STRING }).min(1, { error: 'not empty' });

export function createClaimReader(names: ClaimNames): ClaimReader {
  const expected: Record<string, string> = {
    sub: STRING, client_id: STRING, azp: STRING, jti: STRING, scope: STRING,
    [names.plan]: STRING, [names.license]: STRING, [names.tenant]: STRING,
    scp: 'an array of strings', cnf: 'an object', 'cnf.jkt': STRING, 'cnf.x5t#S256': STRING,
  };
  const standard = z.object({
    sub: text.optional(),
    client_id: text.optional(),
    azp: text.optional(),
    jti: text.optional(),
    scope: z.string({ error: STRING }).optional(),
    scp: z.array(z.string()).optional(),
    cnf: z.object({ jkt: text.optional(), 'x5t#S256': text.optional() }).optional(),
  });
  // The configured names may be anything, even a standard name: a schema of their own.
  const configured = z.object(
    Object.fromEntries([names.plan, names.license, names.tenant].map((name) => [name, text.optional()])),
  ) as unknown as z.ZodType<Record<string, string | undefined>>;

  return (payload, scheme) => {
    const parsed = standard.safeParse(payload);
    const custom = configured.safeParse(payload);
    if (!parsed.success || !custom.success) {
      const issue = (parsed.error ?? custom.error)!.issues[0]!;
      const [first, second] = issue.path.map(String);
      const claim = first === 'cnf' && second !== undefined ? `cnf.${second}` : first!;
      const rule = issue.message === 'not empty' ? 'must not be empty' : `must be ${expected[claim] ?? STRING}`;
      throw new AuthenticationError('invalid_token', `the access token claim "${claim}" ${rule}`, { scheme });
    }
    const claims = parsed.data;
    const clientId = claims.client_id ?? claims.azp;
    const subject = claims.sub ?? clientId;
    if (subject === undefined) throw new AuthenticationError('invalid_token', 'the access token names no subject (sub)', { scheme });
        return {
      subject,
      clientId,
      tenant: custom.data[names.tenant],
      plan: custom.data[names.plan],
      license: custom.data[names.license],
      tokenId: claims.jti,
      scope: claims.scope,
      scp: claims.scp,
      cnf: claims.cnf === undefined ? undefined : { jkt: claims.cnf.jkt, x5t: claims.cnf['x5t#S256'] },
    };
  };
}

/** The Principal a verified OpTok makes, however it was presented. */
export function opTokPrincipal(claims: OpTokClaims, binding: SenderBinding, scheme: Principal['scheme'], username?: string): Principal {
  return {
    subject: claims.subject,
    clientId: claims.clientId,
    tenant: claims.tenant,
    plan: claims.plan,
    license: claims.license,
    tokenId: claims.tokenId,
    scopes: tokenScopes({ scope: claims.scope, scp: claims.scp }),
    binding,
    scheme,
    ...(username === undefined ? {} : { username }),
  };
}
