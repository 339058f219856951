import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Caller } from '../domain/caller.js';
import { parseTraceparent } from '../tracing/ids.js';
import { runInSpan } from '../tracing/context.js';
import type { Span, Tracer } from '../tracing/tracer.js';

export interface HttpTracingOptions {
  /** Route patterns left untraced: probes and scrapes would bury the requests worth reading. */
  skipRoutes?: readonly string[];
}

/**
 * One server span per API request, named `METHOD /route/pattern` and continuing the caller's
 * `traceparent`. The handler runs inside the span (AsyncLocalStorage), so a workflow it starts joins
 * the trace. Register it only when tracing is on: off, no hook exists at all.
 */
export function httpTracing(tracer: Tracer, opts: HttpTracingOptions = {}): FastifyPluginAsync {
  const skip = new Set(opts.skipRoutes ?? []);
  const spans = new WeakMap<FastifyRequest, Span>();

  const plugin: FastifyPluginAsync = async (app) => {
    app.addHook('onRequest', (req, _reply, done) => {
      const route = req.routeOptions.url;
      if (route === undefined || !skip.has(route)) {
        spans.set(
          req,
          tracer.startSpan(route === undefined ? req.method : `${req.method} ${route}`, {
            kind: 'server',
            parent: parseTraceparent(req.headers.traceparent),
            // The raw URL is left out on purpose: a query may carry a token (/ui/login?token=…).
            attributes: { 'http.request.method': req.method, 'http.route': route, 'provisioner.request_id': req.id },
          }),
        );
      }
      done();
    });
    // Callback-style, so the rest of the request (route preHandlers and the handler) runs inside run().
    app.addHook('preHandler', (req, _reply, done) => {
      const context = spans.get(req)?.context;
      if (context) runInSpan(context, done);
      else done();
    });
    app.addHook('onResponse', (req, reply, done) => {
      const span = spans.get(req);
      if (span) {
        spans.delete(req);
        span.setAttributes({
          'http.response.status_code': reply.statusCode,
          'provisioner.tenant_id': (req.caller as Caller | undefined)?.tenantId,
        });
        if (reply.statusCode >= 500) span.setError(`HTTP ${reply.statusCode}`);
        span.end();
      }
      done();
    });
  };
  // The hooks must see every route of the app, not only this plugin's own scope: `skip-override` is
  // Fastify's documented marker for that (what fastify-plugin sets), without adding the dependency.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
