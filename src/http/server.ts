import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import { createTokenVerifier } from '../auth/token-verifier.js';
import { buildApp, type RoutePlugin } from './app.js';
import { createRateLimiter } from './rate-limit.js';
import { callbackRoutes } from './routes/callback.js';
import { provisioningRoutes } from './routes/provisioning.js';
import { adminRoutes } from './routes/admin.js';
import { registryRoutes, catalogRoutes } from './routes/registry.js';
import { provisioningSchemas } from './schemas/provisioning.js';
import { registrySchemas } from './schemas/registry.js';
import { ApiResponse_dict_ } from './schemas/common.js';
import { uiPlugin } from '../ui/plugin.js';
import { webhookRoutes } from './routes/webhooks.js';
import { webhookSchemas } from './schemas/webhooks.js';
import { metricsRoute } from './routes/metrics.js';
import { httpTracing } from './tracing.js';
import { eventsIntakeRoutes } from './routes/events-intake.js';
import { adminEventsRoutes } from './routes/admin-events.js';
import { intakeSchemas } from './schemas/events.js';
import { manifestSchemaRoute } from './routes/manifest-schema.js';
import { ServiceManifest } from './schemas/manifest.js';

/** The whole HTTP surface of a replica, by role: `worker` serves only probes (and metrics). */
export async function buildServer(runtime: Runtime): Promise<FastifyInstance> {
  const { config } = runtime;
  const verifier = createTokenVerifier(config.auth);
  const serveApi = config.role !== 'worker';
  const api: RoutePlugin[] = serveApi
    ? [
        provisioningRoutes({ starter: runtime.starter, queries: runtime.queries }),
        adminRoutes({ queries: runtime.queries, starter: runtime.starter, admin: runtime.admin, stuckAfterS: config.stuckAfterS }),
        registryRoutes({ registry: runtime.registry }),
        catalogRoutes({ registry: runtime.registry }),
        webhookRoutes({ store: runtime.store, cipher: runtime.cipher, config: { outbound: config.outbound } }),
        adminEventsRoutes({ intake: runtime.intake }),
      ]
    : [];
  const publicApi: RoutePlugin[] = serveApi
    ? [
        callbackRoutes({ callbacks: runtime.callbacks, limiter: createRateLimiter(config.callbackRateLimitPerMinute) }),
        eventsIntakeRoutes({ intake: runtime.intake }),
        manifestSchemaRoute({ publicUrl: config.publicUrl }),
      ]
    : [];
  return buildApp({
    verifier,
    logger: runtime.log,
    isUnavailable: (e) => runtime.store.dialect.isConnectionError(e),
    ready: async () => {
      try {
        await runtime.store.dialect.ping();
        return { ok: true, checks: { database: `ok (${runtime.store.dialect.name})` } };
      } catch (e) {
        // /readyz needs no token: the reason goes to the log, never into the answer.
        runtime.log.warn({ err: e }, 'readiness: database unreachable');
        return { ok: false, checks: { database: 'unreachable' } };
      }
    },
    schemas: [...provisioningSchemas, ...registrySchemas, ...webhookSchemas, ApiResponse_dict_, ...intakeSchemas, ServiceManifest],
    publicApi,
    api,
    trustedProxies: config.trustedProxies,
    root: [
      // Probes and scrapes are left untraced: every few seconds each, they would bury the requests worth reading.
      ...(runtime.tracer.enabled ? [httpTracing(runtime.tracer, { skipRoutes: ['/healthz', '/readyz', '/metrics'] })] : []),
      metricsRoute(runtime.metrics),
      ...(serveApi ? [uiPlugin({ runtime, verifier })] : []),
    ],
    onResponse: (req, reply) =>
      runtime.metrics.observeHttp(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000),
  });
}
