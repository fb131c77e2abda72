// `registry-token explain`: what a plan would grant for given scopes, and which rule matched.
// It runs the real authorize stage, so the answer cannot drift from the service's. It needs
// only the plan keys of a configuration (PlanConfig), never keys, an Authority or a ledger.
import type { PlanConfig } from './config/schema.ts';
import { ServiceError } from './domain/errors.ts';
import type { AccessEntry, Decision, Principal } from './domain/types.ts';
import { createAuthorizer } from './authorize/decide.ts';
import { compilePlans } from './authorize/plans.ts';
import { RevocationSet } from './authorize/revocations.ts';
import { parseScopes } from './authorize/scope.ts';
import { compileTenantRules } from './authorize/tenancy.ts';

export interface ExplainInput {
  plan: string | undefined;
  license: string | undefined;
  subject: string | undefined;
  tenant: string | undefined;
  scopes: string[];
}

export type Explanation =
  | { readonly granted: true; readonly plan: string; readonly defaultPlan: boolean; readonly reasons: Decision['reasons']; readonly access: AccessEntry[] }
  | { readonly granted: false; readonly status: number; readonly reason: string; readonly message: string };

export function explain(config: PlanConfig, input: ExplainInput): Explanation {
  const authorizer = createAuthorizer(compilePlans(config.plans, config.defaultPlan), new RevocationSet(config.revokedLicenses), compileTenantRules(config.tenancy));
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
  try {
    const decision = authorizer.decide(principal, parseScopes(input.scopes));
    return { granted: true, plan: decision.plan, defaultPlan: input.plan === undefined, reasons: decision.reasons, access: decision.access };
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    return { granted: false, status: error.status, reason: error.reason, message: error.message };
  }
}

/** The human form: one line per requested scope, then the `access` claim a token would carry. */
export function formatExplanation(explanation: Explanation): string {
  if (!explanation.granted) return `refused (${explanation.status} ${explanation.reason}): ${explanation.message}`;
  const lines = [`plan: ${explanation.plan}${explanation.defaultPlan ? ' (defaultPlan)' : ''}`];
  if (explanation.reasons.length === 0) lines.push('no scope requested: a login token with empty access');
  for (const reason of explanation.reasons) {
    const granted = reason.granted.length === 0 ? 'nothing' : reason.granted.join(',');
    const why = reason.refused === 'cross_tenant' ? "another tenant's namespace" : reason.rule === undefined ? 'no rule matches' : `rule ${reason.rule}`;
    lines.push(`${reason.scope} -> ${granted}  (${why})`);
  }
  lines.push(`access: ${JSON.stringify(explanation.access)}`);
  return lines.join('\n');
}
