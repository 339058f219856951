import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type {} from '@fastify/swagger'; // its FastifySchema augmentation declares `security`
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { Caller } from '../domain/caller.js';
import { Forbidden } from '../domain/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; set by `authenticate` for every route registered in its scope. */
    caller: Caller;
  }
}

/** Name of the OpenAPI security scheme (declared in app.ts). */
export const BEARER_SCHEME = 'bearerAuth';

/**
 * Requires a valid bearer token on every route of the scope it is registered in, and on no other:
 * auth follows where a route is registered, never a URL prefix (STYLE "Routes"). It runs `onRequest`,
 * before the body is read, so an anonymous caller learns nothing from validation errors.
 */
export function authenticate(verifier: TokenVerifier): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (scope) => {
    if (!scope.hasRequestDecorator('caller')) scope.decorateRequest('caller');
    scope.addHook('onRequest', async (req, reply) => {
      req.caller = await verifier.verify(req.headers.authorization);
      // Every later line of the request (handler, errors, "request completed") names the caller's tenant.
      if (req.caller.tenantId !== null) {
        req.log = req.log.child({ tenant: req.caller.tenantId });
        reply.log = req.log;
      }
    });
    // Documents the requirement on exactly the routes the hook guards.
    scope.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: route.schema?.security ?? [{ [BEARER_SCHEME]: [] }] };
    });
  };
  // What fastify-plugin does: the hooks land in the registering scope instead of a child of it.
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'authenticate',
  });
}

/** A preHandler that lets a caller through only if `allowed(caller)`; otherwise 403 with `message`. */
export function requireCaller(allowed: (c: Caller) => boolean, message: string) {
  return async function requireCallerHook(req: FastifyRequest): Promise<void> {
    if (!allowed(callerOf(req))) throw new Forbidden(message);
  };
}

/** Tenant read endpoints need a token that names the tenant (DESIGN §3). */
export const requireTenant = requireCaller(
  (c) => c.tenantId !== null,
  'this endpoint needs a token with a tenant_id claim; request a token issued for your tenant',
);

function callerOf(req: FastifyRequest): Caller {
  // A permission check outside an authenticated scope is a wiring bug: fail closed and loudly.
  if (!req.caller) throw new Error(`permission check on ${req.method} ${req.routeOptions.url} outside authenticate()`);
  return req.caller;
}
