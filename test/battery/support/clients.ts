// The clients of the battery's Authorities: those every integration test uses, and a few whose
// client id or tenant exercise the placeholder patterns of issue 7 (defect 9).
import type { DevClient } from '../../../src/dev/authority.ts';
import { CLIENTS } from '../../support/stack.ts';

export const ISSUE = 'registry.token.issue';

export const BATTERY_CLIENTS: DevClient[] = [
  ...CLIENTS,
  // `ci/{clientId}-*`: runner may have ci/runner-build-1; run may not.
  { clientId: 'runner', clientSecret: 'secret-runner-000000000', binding: 'dpop', scope: ISSUE, claims: { 'stellaops:plan': 'ci', 'stellaops:license': 'lic-ci', tid: 'a' } },
  { clientId: 'run', clientSecret: 'secret-run-00000000000000', binding: 'dpop', scope: ISSUE, claims: { 'stellaops:plan': 'ci', 'stellaops:license': 'lic-ci', tid: 'b' } },
  // A second ordinary client: the bystander of the fairness and flood cases.
  { clientId: 'bystander', clientSecret: 'secret-bystander-000000', binding: 'dpop', scope: ISSUE, claims: { 'stellaops:plan': 'team', 'stellaops:license': 'lic-team', tid: 'acme' } },
];

export function secretOf(clientId: string): string {
  const client = BATTERY_CLIENTS.find((c) => c.clientId === clientId);
  if (client === undefined) throw new Error(`unknown battery client ${clientId}`);
  return client.clientSecret;
}
