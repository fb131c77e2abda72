import { configPathFromEnv, loadPlanConfig } from '../config/loader.ts';
import { explain, formatExplanation } from '../explain.ts';
import { CONFIG_FLAG, EXIT, UsageError, listFlag, stringFlag, type Command } from './command.ts';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'show what a plan grants for given scopes, and which rule matched',
  synopsis: 'explain [--config FILE] [--plan P] [--license L] [--subject S] [--tenant T] [--scope S ...] [--json]',
  description: [
    'Runs the service\'s own authorize stage on the plans of the configuration. Only plans,',
    'defaultPlan and revokedLicenses are read and validated: a file holding just those is enough.',
    'Exit 0 when the request would get a token (possibly with fewer actions than asked);',
    '1 when it would be refused (403 plan_denied, license_revoked, ...); 2 for a bad configuration or scope flag.',
  ].join('\n'),
  flags: {
    config: CONFIG_FLAG,
    plan: { type: 'string', arg: 'P', help: 'the plan claim (default: the configuration\'s defaultPlan)' },
    license: { type: 'string', arg: 'L', help: 'the licence claim, checked against revokedLicenses' },
    subject: { type: 'string', arg: 'S', help: 'the subject, for {subject} in patterns' },
    tenant: { type: 'string', arg: 'T', help: 'the tenant claim, for {tenant} in patterns' },
    scope: { type: 'string', arg: 'S', multiple: true, help: 'a requested scope, e.g. repository:team/app:pull,push (repeatable)' },
  },
  json: true,
  async run({ values, out }) {
    const path = stringFlag(values, 'config') ?? configPathFromEnv();
    if (path === undefined) throw new UsageError('explain reads the plans from a configuration: give --config FILE (or set REGISTRY_TOKEN_CONFIG)');
    const config = loadPlanConfig({ path });
    const explanation = explain(config, {
      plan: stringFlag(values, 'plan'),
      license: stringFlag(values, 'license'),
      subject: stringFlag(values, 'subject'),
      tenant: stringFlag(values, 'tenant'),
      scopes: listFlag(values, 'scope'),
    });
    out.stdout(`${out.json ? JSON.stringify(explanation) : formatExplanation(explanation)}\n`);
    return explanation.granted ? EXIT.ok : EXIT.no;
  },
};
