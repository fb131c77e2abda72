// `registry-token explain`: what a plan would grant for given scopes, and which rule matched.
// It runs the real authorize stage, so the answer cannot drift from the service's.
import type { Config } from './config/schema.ts';
import { ServiceError } from './domain/errors.ts';
import type { Principal } from './domain/types.ts';
import { createAuthorizer } from './authorize/decide.ts';
import { compilePlans } from './authorize/plans.ts';
import { RevocationSet } from './authorize/revocations.ts';
import { parseScopes } from './authorize/scope.ts';

export interface ExplainInput {
  plan: string | undefined;
  license: string | undefined;
  subject: string | undefined;
  tenant: string | undefined;
  scopes: string[];
}

export function explain(config: Config, input: ExplainInput): string {
  const authorizer = createAuthorizer(compilePlans(config.plans, config.defaultPlan), new RevocationSet(config.revokedLicenses));
  const principal: Principal = {
    subject: input.subject ?? 'explain',
    clientId: undefined,
    tenant: input.tenant,
    plan: input.plan,
    license: input.license,
    tokenId: undefined,
    scopes: new Set(),
    binding: { method: 'none' },
    scheme: 'Bearer',
  };
  const lines: string[] = [];
  try {
    const decision = authorizer.decide(principal, parseScopes(input.scopes));
    lines.push(`plan: ${decision.plan}${input.plan === undefined ? ' (defaultPlan)' : ''}`);
    if (decision.reasons.length === 0) lines.push('no scope requested: a login token with empty access');
    for (const reason of decision.reasons) {
      const granted = reason.granted.length === 0 ? 'nothing' : reason.granted.join(',');
      lines.push(`${reason.scope} -> ${granted}  (${reason.rule === undefined ? 'no rule matches' : `rule ${reason.rule}`})`);
    }
    lines.push(`access: ${JSON.stringify(decision.access)}`);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    lines.push(`refused (${error.status} ${error.reason}): ${error.message}`);
  }
  return lines.join('\n');
}
