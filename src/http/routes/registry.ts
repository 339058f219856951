import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Runtime } from '../../runtime.js';
import { canManageRegistry, isRegistryAdmin } from '../../domain/caller.js';
import { ValidationFailed } from '../../domain/errors.js';
import { ok, page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import { DeregisterRequest, HeartbeatRequest, ServiceResponse } from '../schemas/registry.js';
import { acceptYamlBodies } from '../yaml-body.js';
import { ManifestBody } from '../schemas/manifest.js';

const tags = ['Registry'];
const manage = requireCaller(canManageRegistry, 'registry endpoints need permission registry:manage or admin:registry');
const admin = requireCaller(isRegistryAdmin, 'listing the registry needs permission admin:registry or admin:provisioning');

/** Services register their manifests (DESIGN §5 registry, §6). Running workflows keep the version they started with. */
export function registryRoutes({ runtime }: { runtime: Runtime }): FastifyPluginAsync {
  return async (app) => {
    acceptYamlBodies(app);
    // No body schema: checkManifest reads the raw body, so every problem (typos included) is
    // reported with its step and field rather than as a generic schema error.

    app.post('/registry/register', {
      preHandler: manage,
      schema: { tags, operationId: 'registerService', summary: 'Register a service manifest', documentedBody: ManifestBody, response: { 201: envelope(ServiceResponse), ...errorResponses } },
    }, async (req, reply) => {
      const r = await withBodyLoc(() => runtime.registry.register(manifestBody(req)));
      reply.code(201);
      return ok(req, r.service);
    });

    app.put('/registry/register', {
      preHandler: manage,
      schema: { tags, operationId: 'upsertService', summary: 'Register or update a service manifest (idempotent)', documentedBody: ManifestBody, response: { 200: envelope(ServiceResponse), 201: envelope(ServiceResponse), ...errorResponses } },
    }, async (req, reply) => {
      const r = await withBodyLoc(() => runtime.registry.upsert(manifestBody(req)));
      reply.code(r.created ? 201 : 200);
      return ok(req, r.service, { version_changed: r.versionChanged });
    });

    app.delete('/registry/register', {
      preHandler: manage,
      schema: { tags, operationId: 'deregisterService', summary: 'Remove a service no tenant holds', body: DeregisterRequest, response: { 200: envelope(ServiceResponse), ...errorResponses } },
    }, async (req) => {
      const { slug, reason } = req.body as { slug: string; reason: string };
      const before = (await runtime.registry.list()).find((s) => s.slug === slug);
      await runtime.registry.remove(slug);
      req.log.info({ slug, reason, actor: req.caller.sub }, 'service deregistered');
      return ok(req, before ?? null);
    });

    app.post('/registry/heartbeat', {
      preHandler: manage,
      schema: { tags, operationId: 'serviceHeartbeat', summary: "A service's liveness and version", body: HeartbeatRequest, response: { 200: envelope(ServiceResponse), ...errorResponses } },
    }, async (req) => {
      const b = req.body as { slug: string; status: string; version?: string; detail?: string };
      return ok(req, await runtime.registry.heartbeat(b.slug, b.status, b.version, b.detail));
    });

    app.get('/registry/services', {
      preHandler: admin,
      schema: { tags, operationId: 'listRegisteredServices', summary: 'Registered services with their health', response: { 200: listEnvelope(ServiceResponse), ...errorResponses } },
    }, async (req) => {
      const items = await runtime.registry.list();
      return page(req, items, { limit: items.length, next_cursor: null });
    });
  };
}

/** Catalog: what a tenant can subscribe to (any authenticated caller). */
export function catalogRoutes({ runtime }: { runtime: Runtime }): FastifyPluginAsync {
  return async (app) => {
    app.get('/catalog/services', {
      schema: { tags: ['Catalog'], operationId: 'listCatalogServices', summary: 'Services available to provision', response: { 200: listEnvelope(ServiceResponse), ...errorResponses } },
    }, async (req) => {
      const items = await runtime.registry.list();
      return page(req, items, { limit: items.length, next_cursor: null });
    });
  };
}

function manifestBody(req: FastifyRequest): unknown {
  if (req.body === undefined || req.body === null) throw new ValidationFailed([{ loc: ['body'], msg: 'a service manifest is required', type: 'missing' }]);
  return req.body;
}

async function withBodyLoc<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ValidationFailed) throw new ValidationFailed(e.issues.map((i) => ({ ...i, loc: ['body', ...i.loc] })));
    throw e;
  }
}
