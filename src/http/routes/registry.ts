import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../runtime.js';
import { actorOf, canManageRegistry, isRegistryAdmin, registryRefusal, type Caller } from '../../domain/caller.js';
import { Forbidden, NotFound, ValidationFailed } from '../../domain/errors.js';
import { ok, page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import {
  DeregisterRequest,
  HeartbeatRequest,
  RegisterQuery,
  RegistryAuditEntry,
  ServiceResponse,
  ServiceSlugParams,
  ServiceVersion,
  SigningSecretRequest,
  SigningSecretResponse,
} from '../schemas/registry.js';
import type { ServiceView } from '../../engine/registry.js';
import { acceptYamlBodies } from '../yaml-body.js';
import { ManifestBody } from '../schemas/manifest.js';

const tags = ['Registry'];
const manage = requireCaller(
  canManageRegistry,
  'registry endpoints need permission registry:manage (with a service_slug claim) or admin:registry',
);
const admin = requireCaller(isRegistryAdmin, 'listing the registry needs permission admin:registry or admin:provisioning');

/** A service's own token acts on its slug only; anything else needs admin:registry (DESIGN §3). */
function requireService(caller: Caller, slug: string): void {
  const refusal = registryRefusal(caller, slug);
  if (refusal) throw new Forbidden(refusal);
}

/** The registry history of one service: its operators, and the service itself. */
function requireReader(caller: Caller, slug: string): void {
  if (isRegistryAdmin(caller)) return;
  requireService(caller, slug);
}

function slugOf(body: unknown, caller: Caller): string {
  const slug = body !== null && typeof body === 'object' && 'slug' in body ? body.slug : undefined;
  // No usable slug: check against the token's own (a claimless token still gets its 403); the manifest check names the field.
  return typeof slug === 'string' ? slug : (caller.serviceSlug ?? '');
}

/** Services register their manifests (DESIGN §5 registry, §6). Running workflows keep the version they started with. */
export function registryRoutes({ registry }: Pick<Runtime, 'registry'>): FastifyPluginAsyncTypebox {
  return async (app) => {
    acceptYamlBodies(app);
    // No body schema: checkManifest reads the raw body, so every problem (typos included) is
    // reported with its step and field rather than as a generic schema error.

    app.post(
      '/registry/register',
      {
        preHandler: manage,
        schema: {
          tags,
          operationId: 'registerService',
          summary: 'Register a service manifest',
          querystring: RegisterQuery,
          documentedBody: ManifestBody,
          response: { 201: envelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req, reply) => {
        requireService(req.caller, slugOf(req.body, req.caller));
        const r = await withBodyLoc(() => registry.register(manifestBody(req.body), byOf(req.caller, req.query.reason)));
        reply.code(201);
        return ok(req, withSecret(r.service, r.signingSecret));
      },
    );

    app.put(
      '/registry/register',
      {
        preHandler: manage,
        schema: {
          tags,
          operationId: 'upsertService',
          summary: 'Register or update a service manifest (idempotent)',
          querystring: RegisterQuery,
          documentedBody: ManifestBody,
          response: { 200: envelope(ServiceResponse), 201: envelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req, reply) => {
        requireService(req.caller, slugOf(req.body, req.caller));
        const r = await withBodyLoc(() => registry.upsert(manifestBody(req.body), byOf(req.caller, req.query.reason)));
        reply.code(r.created ? 201 : 200);
        return ok(req, withSecret(r.service, r.signingSecret), { version_changed: r.versionChanged });
      },
    );

    app.delete(
      '/registry/register',
      {
        preHandler: manage,
        schema: {
          tags,
          operationId: 'deregisterService',
          summary: 'Remove a service no tenant holds',
          body: DeregisterRequest,
          response: { 200: envelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { slug, reason } = req.body;
        requireService(req.caller, slug);
        const before = (await registry.list()).find((s) => s.slug === slug);
        if (!before) throw new NotFound(`service ${slug} is not registered`);
        await registry.remove(slug, { actor: actorOf(req.caller), reason });
        req.log.info({ slug, reason, actor: req.caller.sub }, 'service deregistered');
        return ok(req, before);
      },
    );

    app.post(
      '/registry/heartbeat',
      {
        preHandler: manage,
        schema: {
          tags,
          operationId: 'serviceHeartbeat',
          summary: "A service's liveness and version",
          body: HeartbeatRequest,
          response: { 200: envelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body;
        requireService(req.caller, b.slug);
        return ok(req, await registry.heartbeat(b.slug, b.status, b.version, b.detail, { actor: actorOf(req.caller), reason: null }));
      },
    );

    app.post(
      '/registry/signing-secret',
      {
        preHandler: manage,
        schema: {
          tags,
          summary: "Rotate a service's request-signing secret",
          description:
            'Answers the new secret once. Requests are signed with the newest secret from now on; accept the previous one on your side until this one is deployed.',
          body: SigningSecretRequest,
          response: { 200: envelope(SigningSecretResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { slug, reason } = req.body;
        requireService(req.caller, slug);
        const secret = await registry.rotateSigningSecret(slug, { actor: actorOf(req.caller), reason: reason ?? null });
        req.log.info({ slug, actor: actorOf(req.caller) }, 'service signing secret rotated');
        return ok(req, { slug, signing_secret: secret });
      },
    );

    app.get(
      '/registry/services/:slug/versions',
      {
        preHandler: manage,
        schema: {
          tags,
          summary: "A service's manifest versions, oldest first, with who registered each and why",
          params: ServiceSlugParams,
          response: { 200: listEnvelope(ServiceVersion), ...errorResponses },
        },
      },
      async (req) => {
        const { slug } = req.params;
        requireReader(req.caller, slug);
        const items = await registry.versions(slug);
        return page(req, items, { limit: items.length, next_cursor: null });
      },
    );

    app.get(
      '/registry/services/:slug/audit',
      {
        preHandler: manage,
        schema: {
          tags,
          summary: "Every change to a service's registration, newest first",
          params: ServiceSlugParams,
          response: { 200: listEnvelope(RegistryAuditEntry), ...errorResponses },
        },
      },
      async (req) => {
        const { slug } = req.params;
        requireReader(req.caller, slug);
        const items = await registry.audit(slug);
        return page(req, items, { limit: items.length, next_cursor: null });
      },
    );

    app.get(
      '/registry/services',
      {
        preHandler: admin,
        schema: {
          tags,
          operationId: 'listRegisteredServices',
          summary: 'Registered services with their health',
          response: { 200: listEnvelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req) => {
        const items = await registry.list();
        return page(req, items, { limit: items.length, next_cursor: null });
      },
    );
  };
}

/** Catalog: what a tenant can subscribe to (any authenticated caller). */
export function catalogRoutes({ registry }: Pick<Runtime, 'registry'>): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/catalog/services',
      {
        schema: {
          tags: ['Catalog'],
          operationId: 'listCatalogServices',
          summary: 'Services available to provision',
          response: { 200: listEnvelope(ServiceResponse), ...errorResponses },
        },
      },
      async (req) => {
        // A service's address is internal: tenants learn what they can subscribe to, not where it runs.
        const all = await registry.list();
        const items = isRegistryAdmin(req.caller) ? all : all.map(({ base_url: _hidden, ...rest }) => rest);
        return page(req, items, { limit: items.length, next_cursor: null });
      },
    );
  };
}

function byOf(caller: Caller, reason: string | undefined) {
  return { actor: actorOf(caller), reason: reason ?? null };
}

function withSecret(service: ServiceView, secret: string | null): ServiceView & { signing_secret?: string } {
  return secret === null ? service : { ...service, signing_secret: secret };
}

function manifestBody(body: unknown): unknown {
  if (body === undefined || body === null)
    throw new ValidationFailed([{ loc: ['body'], msg: 'a service manifest is required', type: 'missing' }]);
  return body;
}

async function withBodyLoc<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ValidationFailed) throw new ValidationFailed(e.issues.map((i) => ({ ...i, loc: ['body', ...i.loc] })));
    throw e;
  }
}
