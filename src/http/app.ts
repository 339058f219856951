import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import AjvCompiler from '@fastify/ajv-compiler';
import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type TSchema } from 'typebox';
import type { IncomingMessage } from 'node:http';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { newRequestId } from '../domain/ids.js';
import { Unavailable, ValidationFailed } from '../domain/errors.js';
import { jsonDepth, MAX_JSON_DEPTH } from '../domain/json-limits.js';
import { authenticate, BEARER_SCHEME } from './auth.js';
import { handleFrameworkError, installErrorHandling } from './errors.js';
import { commonSchemas, registerSchemas } from './schemas/common.js';

/** A route group; either flavour, so route files can use `FastifyPluginAsyncTypebox`. */
export type RoutePlugin = FastifyPluginAsync | FastifyPluginAsyncTypebox;

export interface AppDeps {
  verifier: TokenVerifier;
  /** pino options, a pino instance, or false (tests). */
  logger: FastifyBaseLogger | boolean | object;
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** True for errors meaning the database is down: answered 503 `unavailable` instead of 500. */
  isUnavailable?: (e: unknown) => boolean;
  /** Plugins registered under /api/v1 WITHOUT auth (the callback route). */
  publicApi?: RoutePlugin[];
  /** Plugins registered under /api/v1 inside the authenticated scope. */
  api?: RoutePlugin[];
  /** Plugins registered at the root (UI pages, /metrics), with their own auth. */
  root?: RoutePlugin[];
  /** Component schemas (each with `$id`) that routes point at with `ref()` or `envelope()`. */
  schemas?: TSchema[];
  /** Default 1 MiB; a route may set its own `bodyLimit` (the callback: 256 KiB). */
  bodyLimitBytes?: number;
  /** Proxies whose X-Forwarded-For names the client (PROVISIONER_TRUSTED_PROXIES); none by default. */
  trustedProxies?: readonly string[];
  /** Called when each response has been sent (metrics). */
  onResponse?: (req: FastifyRequest, reply: FastifyReply) => void;
}

export const API_PREFIX = '/api/v1';
const DEFAULT_BODY_LIMIT = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Builds the HTTP app without listening; tests drive it with `inject`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggerOption(deps.logger),
    // A client's id is kept only if it cannot smuggle anything into logs or headers.
    genReqId: (raw: IncomingMessage) => requestIdFrom(raw.headers['x-request-id']),
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    trustProxy: deps.trustedProxies && deps.trustedProxies.length > 0 ? [...deps.trustedProxies] : false,
    // Fastify's own drain answer is not in the contract's shape; shedDuringShutdown() answers instead.
    return503OnClosing: false,
    bodyLimit: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    // allErrors so one 422 lists every problem; removeAdditional false so nothing is dropped silently.
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: true, useDefaults: true } },
    schemaController: { compilersFactory: { buildValidator: noBodyCoercion() } },
    frameworkErrors: handleFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app, { isUnavailable: deps.isUnavailable });
  shedDuringShutdown(app);
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  const onResponse = deps.onResponse;
  if (onResponse) app.addHook('onResponse', async (req, reply) => onResponse(req, reply));
  // The API speaks JSON only: a text body gets a clear 415 instead of a confusing 422.
  app.removeContentTypeParser('text/plain');
  limitJsonDepth(app);
  registerSchemas(app, [...commonSchemas, ...(deps.schemas ?? [])]);

  await registerDocs(app);
  registerProbes(app, deps.ready);

  for (const plugin of deps.root ?? []) await app.register(plugin);
  await app.register(
    async (scope) => {
      for (const plugin of deps.publicApi ?? []) await scope.register(plugin);
    },
    { prefix: API_PREFIX },
  );
  await app.register(
    async (scope) => {
      await scope.register(authenticate(deps.verifier));
      for (const plugin of deps.api ?? []) await scope.register(plugin);
    },
    { prefix: API_PREFIX },
  );
  return app;
}

/**
 * Every JSON body is checked for depth on its raw text before it is parsed, validated or serialized again:
 * deeper than MAX_JSON_DEPTH is 422 (issue 11 finding 6: ~5,000 levels used to overflow the stack → 500).
 * Size is bodyLimit's (413). Fastify's own parser does the rest, prototype-poisoning checks included.
 */
function limitJsonDepth(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDepth(body as string) > MAX_JSON_DEPTH) {
      done(
        new ValidationFailed([
          { loc: ['body'], msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels; send a flatter document`, type: 'value_error.depth' },
        ]),
        undefined,
      );
      return;
    }
    parseJson(req, body as string, done);
  });
}

/**
 * Requests that still arrive once close() has begun (pipelined or on a busy keep-alive connection)
 * get 503 `unavailable`, so the client retries on another replica (Fastify adds `Connection: close`).
 */
function shedDuringShutdown(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new Unavailable('this server is shutting down; retry the request');
  });
}

export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : newRequestId();
}

function loggerOption(logger: AppDeps['logger']): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (typeof logger === 'object' && logger !== null && typeof (logger as { child?: unknown }).child === 'function') {
    return { loggerInstance: logger as FastifyBaseLogger };
  }
  return { logger: logger as boolean | object };
}

/**
 * Query, path and header values arrive as text and are coerced ("50" → 50). Bodies are JSON and are
 * not: with coercion, ajv turns `null` into "" for `string | null` (the first anyOf branch wins).
 */
function noBodyCoercion(): AjvCompiler.BuildCompilerFromPool {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const forText = pool(externalSchemas, options);
    const forBody =
      options?.mode === 'JTD'
        ? forText
        : pool(externalSchemas, { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } });
    return (route) => (route.httpPart === 'body' ? forBody : forText)(route);
  };
}

async function registerDocs(app: FastifyInstance): Promise<void> {
  const hoisted = hoistNamedSchemas();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Provisioner API',
        version: '1.0.0',
        description: 'Multi-tenant service-provisioning workflows.',
        license: { name: 'MIT', identifier: 'MIT' },
        contact: { name: 'Provisioner maintainers' },
      },
      components: { securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      servers: [{ url: '/', description: 'This Provisioner (paths include /api/v1)' }],
    },
    // Component names are the schemas' `$id`s (DESIGN §4), not def-0, def-1…
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: hoisted.transform,
    transformObject: hoisted.transformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

function registerProbes(app: FastifyInstance, ready: AppDeps['ready']): void {
  const Health = Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up' });
  const readiness = (description: string) =>
    Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }, { description });
  app.get(
    '/healthz',
    {
      schema: { tags: ['Health'], operationId: 'healthz', summary: 'Liveness: the process is up', security: [], response: { 200: Health } },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Health'],
        operationId: 'readyz',
        summary: 'Readiness: the database answers',
        security: [],
        response: { 200: readiness('Ready to serve'), 503: readiness('Not ready; see checks') },
      },
    },
    async (req, reply) => {
      let result: Awaited<ReturnType<AppDeps['ready']>>;
      try {
        result = await ready();
      } catch (err) {
        // An unauthenticated probe must not leak connection details: the log has them.
        req.log.error({ err }, 'readiness check threw');
        result = { ok: false, checks: { readiness: 'check failed; see the server log' } };
      }
      return reply.code(result.ok ? 200 : 503).send({ status: result.ok ? 'ok' : 'unavailable', checks: result.checks });
    },
  );
}

type Json = Record<string, unknown>;
const COMPONENTS = '#/components/schemas/';
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null;
const namedId = (v: unknown): string | null => (isObject(v) && typeof v.$id === 'string' && !v.$id.startsWith('#') ? v.$id : null);

/**
 * @fastify/swagger inlines a route's top-level body or response schema even when it has an `$id`,
 * so `envelope(X)` would never appear as the `ApiResponse_X_` component the contract names. The
 * docs get a `$ref` and the component instead; validation and serialization still use the schema.
 */
function hoistNamedSchemas() {
  const named = new Map<string, Json>();
  const hoist = (schema: unknown, description?: string): unknown => {
    const id = namedId(schema);
    if (id === null || !isObject(schema)) return schema;
    named.set(id, schema);
    const text = typeof schema.description === 'string' ? schema.description : description;
    return { $ref: COMPONENTS + id, ...(text && { description: text }) };
  };
  // Bare `$ref: "X"` (how `ref()` points at a registered schema) → a components pointer.
  const toComponent = (node: unknown, root: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => toComponent(n, false));
    if (!isObject(node)) return node;
    const nestedId = root ? null : namedId(node);
    if (nestedId !== null) {
      if (!named.has(nestedId)) named.set(nestedId, node);
      return { $ref: COMPONENTS + nestedId };
    }
    const out: Json = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$id') continue;
      out[key] =
        key === '$ref' && typeof value === 'string' && !value.startsWith('#')
          ? COMPONENTS + value.replace(/#$/, '')
          : toComponent(value, false);
    }
    return out;
  };
  const transform: SwaggerTransform = ({ schema, url, route }) => {
    // Routes without a schema are pages (the UI) or plain text (/metrics): not part of the API document.
    if (!schema) return { schema: { hide: true }, url };
    const out: Json = { ...schema };
    // `documentedBody`: a body shown in the docs that the handler validates itself (the manifest).
    if (out.documentedBody) out.body = out.documentedBody;
    delete out.documentedBody;
    if (schema.body) out.body = hoist(schema.body);
    out.operationId ??= fallbackOperationId(route.method, url);
    if (out.description === undefined && typeof out.summary === 'string') out.description = out.summary;
    if (isObject(schema.response)) {
      out.response = Object.fromEntries(
        Object.entries(schema.response).map(([status, r]) => [
          status,
          hoist(r, status.startsWith('2') ? 'Successful Response' : undefined),
        ]),
      );
    }
    return { schema: out, url };
  };
  const transformObject: SwaggerTransformObject = (doc) => {
    if (!('openapiObject' in doc)) return doc.swaggerObject;
    const components = (doc.openapiObject.components ??= {});
    const schemas: Record<string, unknown> = (components.schemas ??= {});
    for (const [id, schema] of named) {
      if (!(id in schemas)) schemas[id] = toComponent(schema, true);
    }
    for (const schema of Object.values(schemas)) dropAnyValueUnions(schema);
    doc.openapiObject.tags = tagsUsed(doc.openapiObject.paths ?? {});
    return doc.openapiObject;
  };
  return { transform, transformObject };
}

const TAG_DESCRIPTIONS: Record<string, string> = {
  Provisioning: "A tenant's workflows and the services' callback",
  Admin: 'Operators: every tenant, and the repair actions',
  Registry: 'Services register their manifests and report their health',
  Catalog: 'What a tenant can subscribe to',
  Webhooks: 'Outbound event subscriptions and deliveries',
  Health: 'Probes for orchestrators',
  Events: 'ScaiControl subscription events in, and what became of them',
};

/** Every tag an operation uses, declared once at the top (linters want them defined globally). */
function tagsUsed(paths: Record<string, unknown>): { name: string; description?: string }[] {
  const names = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const op of Object.values(isObject(item) ? item : {})) {
      if (isObject(op) && Array.isArray(op.tags)) for (const t of op.tags) if (typeof t === 'string') names.add(t);
    }
  }
  return [...names].sort().map((name) => (TAG_DESCRIPTIONS[name] ? { name, description: TAG_DESCRIPTIONS[name] } : { name }));
}

/** For a route that names none: `post /api/v1/a/{b}/c` → `postApiV1ABC`, stable as long as the route is. */
function fallbackOperationId(method: string | string[], url: string): string {
  const words = url
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return `${String([method].flat()[0]).toLowerCase()}${words.join('')}`;
}

/** `anyOf: [{}, {type: null}]` (TypeBox's Unknown-or-null) accepts any value; linters flag the empty branch, so it goes. */
function dropAnyValueUnions(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(dropAnyValueUnions);
    return;
  }
  if (!isObject(node)) return;
  if (Array.isArray(node.anyOf) && node.anyOf.some((v) => isObject(v) && Object.keys(v).length === 0)) delete node.anyOf;
  for (const v of Object.values(node)) dropAnyValueUnions(v);
}
