import type { FastifyInstance } from 'fastify';
import { HEALTHZ, READYZ } from '../openapi/operator.ts';

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves with a problem description, or undefined when healthy. */
  check(): Promise<string | undefined>;
  /** Figures worth seeing whether or not the check passes (e.g. the spool depth), under `details.<name>`. */
  detail?(): Record<string, unknown> | undefined;
}

export function healthRoutes(app: FastifyInstance, checks: readonly ReadinessCheck[]): void {
  // Liveness: the process serves; nothing else is consulted.
  app.get('/healthz', { schema: HEALTHZ }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: READYZ }, async (_request, reply) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          return [name, (await check()) ?? 'ok'] as const;
        } catch (error) {
          return [name, (error as Error).message] as const;
        }
      }),
    );
    const failing = results.filter(([, state]) => state !== 'ok');
    const details = Object.fromEntries(checks.flatMap(({ name, detail }) => {
      const value = detail?.();
      return value === undefined ? [] : [[name, value]];
    }));
    return reply.code(failing.length === 0 ? 200 : 503).send({
      status: failing.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(results),
      ...(Object.keys(details).length === 0 ? {} : { details }),
    });
  });
}
