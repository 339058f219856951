// The HTTP app with the webhook routes and /metrics mounted as the server should mount them.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { webhookRoutes } from '../../src/http/routes/webhooks.js';
import { metricsRoute } from '../../src/http/routes/metrics.js';
import { webhookSchemas } from '../../src/http/schemas/webhooks.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { signToken, type TokenClaims } from '../../src/auth/token-signer.js';
import { TEST_JWT_SECRET, type TestRuntime } from '../support/runtime.js';

export interface Harness {
  app: FastifyInstance;
  call(opts: InjectOptions & { as?: TokenClaims | null }): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }>;
}

export async function webhookApp(rt: TestRuntime): Promise<Harness> {
  const app = await buildApp({
    verifier: createTokenVerifier(rt.config.auth),
    logger: false,
    ready: async () => ({ ok: true, checks: {} }),
    schemas: webhookSchemas,
    api: [webhookRoutes(rt)],
    root: [metricsRoute(rt.metrics)],
    onResponse: (req, reply) => rt.metrics.observeHttp(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000),
  });
  await app.ready();
  return {
    app,
    async call({ as, ...opts }) {
      const headers = { ...(opts.headers ?? {}) } as Record<string, string>;
      if (as) headers.authorization = `Bearer ${await signToken(TEST_JWT_SECRET, as, '1h')}`;
      const res = await app.inject({ ...opts, headers });
      let json: unknown;
      try { json = res.json(); } catch { json = undefined; }
      return { status: res.statusCode, json, body: res.body, headers: res.headers };
    },
  };
}
