import { dump } from 'js-yaml';
import { loadConfig } from '../config/loader.ts';
import type { Config } from '../config/schema.ts';
import { CONFIG_FLAG, EXIT, stringFlag, type Command } from './command.ts';

function masked(config: Config): unknown {
  const secret = /password|secret|uri/i;
  return JSON.parse(JSON.stringify(config, (key, value: unknown) => {
    if (typeof value !== 'string') return value;
    if (secret.test(key)) return '***';
    return withoutUrlPassword(value);
  }));
}

/** A URL's password (store.redis.url may carry one) is masked; anything else is left as it is. */
function withoutUrlPassword(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return value;
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate a configuration and load its signing key',
  synopsis: 'check-config [--config FILE] [--json]',
  description: [
    'Prints the effective configuration (defaults and REGISTRY_TOKEN_* overrides applied, secrets',
    'masked) as YAML, or as JSON with --json; the signing key\'s algorithm and kid go to stderr.',
    'Exit 0 when valid; 2 with one line per problem, each naming its key.',
  ].join('\n'),
  flags: { config: CONFIG_FLAG },
  json: true,
  async run({ values, out }) {
    const config = loadConfig({ path: stringFlag(values, 'config') });
    const { loadKeySet } = await import('../mint/key-set.ts');
    const keys = loadKeySet(config.signing);
    const effective = masked(config);
    out.stdout(out.json ? `${JSON.stringify(effective, null, 2)}\n` : dump(effective, { lineWidth: 120 }));
    for (const warning of keys.warnings) out.stderr(`warning: ${warning}\n`);
    const others = keys.published.slice(1).map((key) => key.kid);
    out.stderr(`configuration is valid; signing key ${keys.active.algorithm} kid ${keys.active.keyId}${others.length === 0 ? '' : `; also published: ${others.join(', ')}`}\n`);
    return EXIT.ok;
  },
};
