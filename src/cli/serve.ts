import { CONFIG_FLAG, booleanFlag, stringFlag, type Command } from './command.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the token service',
  synopsis: 'serve [--config FILE] [--watch]',
  description: [
    'Listens until SIGTERM or SIGINT (graceful: in-flight exchanges finish, the ledger is flushed).',
    'SIGHUP, or a change of the file with --watch, reloads plans, defaultPlan and revokedLicenses.',
    'Exit 0 after a graceful stop; 1 when it cannot start or the shutdown bound is hit; 2 for an invalid configuration.',
  ].join('\n'),
  flags: {
    config: CONFIG_FLAG,
    watch: { type: 'boolean', help: 'reload when the configuration file (or the ConfigMap directory it is in) changes' },
  },
  json: false,
  async run({ values }) {
    const { serve } = await import('../server.ts');
    const code = await serve({ configPath: stringFlag(values, 'config'), watch: booleanFlag(values, 'watch') });
    // Everything of ours is closed by now; pooled keep-alive sockets (to the Authority)
    // must not hold the process open past the shutdown bound.
    process.exit(code);
  },
};
