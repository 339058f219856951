import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Metrics } from '../../metrics.js';

/** `GET /metrics` in the Prometheus text format. No auth (DESIGN §3): register it outside the authenticated scope. */
export function metricsRoute(metrics: Pick<Metrics, 'registry'>): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    });
  };
}
