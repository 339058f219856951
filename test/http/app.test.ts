import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { buildApp, type AppDeps } from '../../src/http/app.js';
import { requireCaller, requireTenant } from '../../src/http/auth.js';
import { ok, page } from '../../src/http/envelope.js';
import { envelope, errorResponses, listEnvelope, ref, ApiResponse_dict_ } from '../../src/http/schemas/common.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { signToken, type TokenClaims } from '../../src/auth/token-signer.js';
import { isAdmin } from '../../src/domain/caller.js';
import { NotFound, RateLimited, ValidationFailed } from '../../src/domain/errors.js';
import { WorkflowResponse } from '../../src/domain/views.js';

const SECRET = 's';
const REQ_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;

const Widget = Type.Object(
  { name: Type.String({ minLength: 1 }), status: Type.Enum(['active', 'retired']), endpoint: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'Widget' },
);

const callbackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/callback',
    {
      bodyLimit: 256,
      schema: { body: Type.Object({ status: Type.String() }), response: { 200: ApiResponse_dict_, ...errorResponses } },
    },
    async (req) => ok(req, { accepted: req.body.status }),
  );
};

const widgetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/widgets',
    {
      schema: {
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }),
        response: { 200: listEnvelope(Widget), ...errorResponses },
      },
    },
    async (req) => page(req, [{ name: 'w', status: 'active' as const, endpoint: null }], { limit: req.query.limit, next_cursor: 'c2' }),
  );
  app.post('/widgets', { schema: { body: ref(Widget), response: { 201: envelope(Widget), ...errorResponses } } }, async (req, reply) =>
    reply.code(201).send(ok(req, req.body, { created: true })),
  );
  app.get('/admin-only', { preHandler: requireCaller(isAdmin, 'needs permission admin:provisioning; ask an operator') }, async (req) =>
    ok(req, { sub: req.caller.sub }),
  );
  app.get('/tenant-only', { preHandler: requireTenant }, async (req) => ok(req, { tenant: req.caller.tenantId }));
  app.get('/boom', async () => {
    throw new Error('password=hunter2 at db.internal');
  });
  app.get('/db-down', async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
  });
  app.get('/slow-down', async () => {
    throw new RateLimited('too many requests; retry after 30 s', 30);
  });
  app.get('/missing', async () => {
    throw new NotFound('workflow wf_X not found; list workflows to find its id');
  });
  app.get('/bad-manifest', async () => {
    throw new ValidationFailed([{ loc: ['body', 'provision', 1, 'depends_on'], msg: 'unknown step x', type: 'value_error' }]);
  });
};

let readiness: Awaited<ReturnType<AppDeps['ready']>> | Error = { ok: true, checks: { database: 'ok' } };

const deps: AppDeps = {
  verifier: createTokenVerifier({ hs256Secret: SECRET, jwksUrl: null, issuer: null, audience: null, clockToleranceS: 60 }),
  logger: false,
  ready: async () => {
    if (readiness instanceof Error) throw readiness;
    return readiness;
  },
  isUnavailable: (e) => (e as { code?: unknown }).code === 'ECONNREFUSED',
  publicApi: [callbackRoutes],
  api: [widgetRoutes],
  schemas: [Widget, WorkflowResponse],
};

type Detail = { loc: unknown[]; msg: string; type: string };
type Res = { statusCode: number; json(): { detail: Detail[]; error: { code: string } } };
const locTypes = (res: Res) => [res.statusCode, res.json().detail.map((d) => [d.loc, d.type])];
const codeOf = (res: Res) => [res.statusCode, res.json().error.code];
const bearer = async (claims: TokenClaims = { sub: 'u1', tenant_id: 't1' }) => ({
  authorization: `Bearer ${await signToken(SECRET, claims, '1h')}`,
});

describe('HTTP app infrastructure', () => {
  let app: FastifyInstance;
  let auth: Record<string, string>;
  before(async () => {
    app = await buildApp(deps);
    await app.ready();
    auth = await bearer();
  });
  after(async () => {
    await app.close();
  });

  describe('validation errors answer 422 in FastAPI shape', () => {
    it('names a missing body field as loc [body, field]', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/widgets', headers: auth, payload: { name: 'a', endpoint: null } });
      assert.deepEqual(
        [res.statusCode, res.json()],
        [422, { detail: [{ loc: ['body', 'status'], msg: 'Field required', type: 'missing' }] }],
      );
    });

    it('lists every problem at once, each naming its field', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/widgets',
        headers: auth,
        payload: { name: '', status: 'gone', endpoint: 5 },
      });
      const detail = res.json().detail as Detail[];
      assert.deepEqual(locTypes(res), [
        422,
        [
          [['body', 'name'], 'string_too_short'],
          [['body', 'status'], 'enum'],
          [['body', 'endpoint'], 'string_type'],
        ],
      ]);
      assert.equal(detail[1].msg, "Input should be 'active' or 'retired'");
      assert.equal(detail[2].msg, 'Input should be a valid string or null');
    });

    it('keeps a JSON null as null (bodies are not type-coerced)', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/widgets',
        headers: auth,
        payload: { name: 'a', status: 'active', endpoint: null },
      });
      assert.deepEqual([res.statusCode, res.json().data.endpoint], [201, null]);
    });

    it('names a bad query parameter as loc [query, name]', async () => {
      const low = await app.inject({ url: '/api/v1/widgets?limit=0', headers: auth });
      assert.deepEqual(
        [low.statusCode, low.json().detail],
        [422, [{ loc: ['query', 'limit'], msg: 'Input should be greater than or equal to 1', type: 'greater_than_equal' }]],
      );
      const text = await app.inject({ url: '/api/v1/widgets?limit=many', headers: auth });
      assert.deepEqual(locTypes(text), [422, [[['query', 'limit'], 'int_parsing']]]);
    });

    it('answers a thrown ValidationFailed with its issues as detail', async () => {
      const res = await app.inject({ url: '/api/v1/bad-manifest', headers: auth });
      assert.deepEqual(
        [res.statusCode, res.json()],
        [422, { detail: [{ loc: ['body', 'provision', 1, 'depends_on'], msg: 'unknown step x', type: 'value_error' }] }],
      );
    });

    it('answers malformed JSON with loc [body] and type json_invalid', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/widgets',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"name": ',
      });
      assert.deepEqual(locTypes(res), [422, [[['body'], 'json_invalid']]]);
    });

    it('answers a missing body with loc [body] and type missing', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/widgets', headers: auth });
      assert.deepEqual([res.statusCode, res.json().detail], [422, [{ loc: ['body'], msg: 'Field required', type: 'missing' }]]);
    });
  });

  describe('other errors answer {error: {code, message, request_id}}', () => {
    it('answers 413 payload_too_large for a body over the route bodyLimit', async () => {
      assert.deepEqual(codeOf(await app.inject({ method: 'POST', url: '/api/v1/callback', payload: { status: 'x'.repeat(300) } })), [
        413,
        'payload_too_large',
      ]);
    });

    it('answers 415 for a body that is not JSON, text/plain included', async () => {
      for (const type of ['application/xml', 'text/plain']) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/v1/widgets',
          headers: { ...auth, 'content-type': type },
          payload: '<w/>',
        });
        assert.deepEqual(codeOf(res), [415, 'unsupported_media_type'], type);
        assert.match(res.json().error.message, /application\/json/);
      }
    });

    it('answers 401 without a token and with a bad one, before reading the body', async () => {
      for (const headers of [{}, { authorization: 'Bearer not.a.jwt' }, { authorization: 'Basic dTpw' }]) {
        const res = await app.inject({ method: 'POST', url: '/api/v1/widgets', headers, payload: { junk: true } });
        const { error } = res.json();
        assert.deepEqual(
          [res.statusCode, { ...error, message: typeof error.message }],
          [401, { code: 'unauthorized', message: 'string', request_id: res.headers['x-request-id'] }],
        );
      }
    });

    it('answers 403 when requireCaller refuses, and lets an allowed caller through', async () => {
      const denied = await app.inject({ url: '/api/v1/admin-only', headers: auth });
      assert.deepEqual(
        [denied.statusCode, denied.json().error],
        [
          403,
          {
            code: 'forbidden',
            message: 'needs permission admin:provisioning; ask an operator',
            request_id: denied.headers['x-request-id'],
          },
        ],
      );
      const allowed = await app.inject({ url: '/api/v1/admin-only', headers: await bearer({ sub: 'op', roles: ['super_admin'] }) });
      assert.deepEqual([allowed.statusCode, allowed.json().data.sub], [200, 'op']);
    });

    it('answers 403 on a tenant endpoint for a token without tenant_id', async () => {
      const res = await app.inject({ url: '/api/v1/tenant-only', headers: await bearer({ sub: 'svc' }) });
      assert.equal(res.statusCode, 403);
      assert.match(res.json().error.message, /needs a token with a tenant_id claim/);
      assert.equal((await app.inject({ url: '/api/v1/tenant-only', headers: auth })).json().data.tenant, 't1');
    });

    it('answers 404 not_found for an unknown route, with a request id', async () => {
      const res = await app.inject({ url: '/api/v1/nothing-here?token=secret' });
      assert.deepEqual(codeOf(res), [404, 'not_found']);
      assert.doesNotMatch(res.json().error.message, /secret/);
      assert.match(String(res.headers['x-request-id']), REQ_ID);
    });

    it('answers a thrown ProvisionerError with its status and headers', async () => {
      const missing = await app.inject({ url: '/api/v1/missing', headers: auth });
      assert.deepEqual([missing.statusCode, missing.json().error.message], [404, 'workflow wf_X not found; list workflows to find its id']);
      const slow = await app.inject({ url: '/api/v1/slow-down', headers: auth });
      assert.deepEqual([slow.statusCode, slow.json().error.code, slow.headers['retry-after']], [429, 'rate_limited', '30']);
    });

    it('answers 500 internal_error for a plain Error without leaking its message or stack', async () => {
      const res = await app.inject({ url: '/api/v1/boom', headers: auth });
      assert.deepEqual(codeOf(res), [500, 'internal_error']);
      assert.doesNotMatch(res.body, /hunter2|db\.internal|at .*\.ts/);
      assert.match(res.json().error.message, new RegExp(String(res.headers['x-request-id'])));
    });

    it('answers 503 unavailable when isUnavailable recognises the error', async () => {
      const res = await app.inject({ url: '/api/v1/db-down', headers: auth });
      assert.deepEqual([...codeOf(res), /10\.0\.0\.5/.test(res.body)], [503, 'unavailable', false]);
    });

    it('answers 503 unavailable in the contract shape to a request arriving once close() has begun', async () => {
      let [release, entered] = [() => {}, () => {}];
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const inFlight = new Promise<void>((r) => {
        entered = r;
      });
      const draining = await buildApp({
        ...deps,
        root: [
          async (a: FastifyInstance) => {
            a.get('/slow', async () => {
              entered();
              await gate;
              return 'done';
            });
          },
        ],
      });
      await draining.listen({ port: 0, host: '127.0.0.1' });
      const socket = connect((draining.server.address() as AddressInfo).port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
      });
      const receive = (text: string) => new Promise<void>((resolve) => socket.on('data', () => received.includes(text) && resolve()));
      const send = (path: string, id: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nX-Request-Id: ${id}\r\n\r\n`);
      send('/slow', 'first');
      await inFlight;
      const closed = draining.close();
      // Once the server stops listening it has swept idle sockets; ours was busy, so it stays open.
      while (draining.server.listening) await new Promise((r) => setImmediate(r));
      release();
      await receive('done');
      const ended = once(socket, 'close');
      send('/healthz', 'late');
      await ended; // answered with Connection: close while draining, whatever the status
      await closed;
      const late = received.slice(received.indexOf('done') + 4);
      assert.match(late, /^HTTP\/1\.1 503 /);
      assert.match(late, /\r\nx-request-id: late\r\n/i);
      assert.match(late, /"code":"unavailable"/);
    });
  });

  describe('request ids', () => {
    it('echoes a well-formed X-Request-Id', async () => {
      assert.equal(
        (await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc.DEF-1_x' } })).headers['x-request-id'],
        'abc.DEF-1_x',
      );
    });

    it('replaces a malformed or over-long X-Request-Id with a generated one', async () => {
      for (const id of ['has space', 'x'.repeat(129), 'bad/id', 'semi;colon']) {
        const res = await app.inject({ url: '/healthz', headers: { 'x-request-id': id } });
        assert.match(String(res.headers['x-request-id']), REQ_ID, id);
      }
    });

    it('generates req_<ULID> when none is sent, and uses it in meta', async () => {
      const res = await app.inject({ url: '/api/v1/widgets', headers: auth });
      assert.match(String(res.headers['x-request-id']), REQ_ID);
      assert.equal(res.json().meta.request_id, res.headers['x-request-id']);
    });
  });

  describe('envelopes', () => {
    it('wraps one item as {data, meta} and keeps extra meta', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/widgets',
        headers: { ...auth, 'x-request-id': 'r1' },
        payload: { name: 'a', status: 'active', endpoint: 'http://x', extra: 'dropped by the serializer' },
      });
      assert.deepEqual(
        [res.statusCode, res.json()],
        [201, { data: { name: 'a', status: 'active', endpoint: 'http://x' }, meta: { request_id: 'r1', created: true } }],
      );
    });

    it('wraps a page as {data, meta: {request_id, count, limit, next_cursor}}', async () => {
      const res = await app.inject({ url: '/api/v1/widgets?limit=5', headers: { ...auth, 'x-request-id': 'r2' } });
      assert.deepEqual(res.json(), {
        data: [{ name: 'w', status: 'active', endpoint: null }],
        meta: { request_id: 'r2', count: 1, limit: 5, next_cursor: 'c2' },
      });
    });
  });

  describe('scopes', () => {
    it('serves a public route without a token while API routes in the same app need one', async () => {
      const open = await app.inject({ method: 'POST', url: '/api/v1/callback', payload: { status: 'completed' } });
      assert.deepEqual([open.statusCode, open.json().data], [200, { accepted: 'completed' }]);
      assert.equal((await app.inject({ url: '/api/v1/widgets' })).statusCode, 401);
    });
  });

  describe('documentation and probes', () => {
    it('publishes OpenAPI 3.1 with the contract component names', async () => {
      const doc = (await app.inject({ url: '/openapi.json' })).json();
      assert.match(doc.openapi, /^3\.1/);
      assert.equal(doc.info.title, 'Provisioner API');
      const names = Object.keys(doc.components.schemas);
      for (const name of [
        'HTTPValidationError',
        'ValidationError',
        'ErrorResponse',
        'Widget',
        'WorkflowResponse',
        'ApiResponse_Widget_',
        'ApiResponse_list_Widget__',
        'ApiResponse_dict_',
      ]) {
        assert.ok(names.includes(name), `missing component ${name}; have ${names.join(', ')}`);
      }
      const component = (name: string) => ({ $ref: `#/components/schemas/${name}` });
      const json = (r: { content: Record<string, { schema: unknown }> }) => r.content['application/json'].schema;
      assert.deepEqual(doc.components.schemas.ApiResponse_list_Widget__.properties.data.items, component('Widget'));
      const { get: list, post: create } = doc.paths['/api/v1/widgets'];
      assert.deepEqual(
        [json(list.responses['200']), json(list.responses['422'])],
        [component('ApiResponse_list_Widget__'), component('HTTPValidationError')],
      );
      assert.deepEqual(list.security, [{ bearerAuth: [] }]);
      assert.deepEqual([json(create.requestBody), json(create.responses['201'])], [component('Widget'), component('ApiResponse_Widget_')]);
      assert.equal(doc.paths['/api/v1/callback'].post.security, undefined);
      assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
      assert.ok(!JSON.stringify(doc).includes('def-'), 'every component is named by its $id');
    });

    it('serves Swagger UI at /docs', async () => {
      const res = await app.inject({ url: '/docs' });
      const page = res.statusCode === 302 ? await app.inject({ url: String(res.headers.location) }) : res;
      assert.deepEqual([page.statusCode, /swagger-ui/.test(page.body)], [200, true]);
    });

    it('answers /healthz 200 and /readyz 200 or 503 from the readiness check', async () => {
      assert.deepEqual((await app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      const ready = await app.inject({ url: '/readyz' });
      assert.deepEqual([ready.statusCode, ready.json()], [200, { status: 'ok', checks: { database: 'ok' } }]);
      readiness = { ok: false, checks: { database: 'unreachable' } };
      const down = await app.inject({ url: '/readyz' });
      assert.deepEqual([down.statusCode, down.json()], [503, { status: 'unavailable', checks: { database: 'unreachable' } }]);
      readiness = new Error('password=hunter2');
      const threw = await app.inject({ url: '/readyz' });
      assert.deepEqual([threw.statusCode, /hunter2/.test(threw.body)], [503, false]);
      readiness = { ok: true, checks: { database: 'ok' } };
    });
  });
});
