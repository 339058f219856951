import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { signToken } from '../../src/auth/token-signer.js';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, tenantReader, type ApiHarness } from '../support/api.js';
import { testDialects, TEST_JWT_SECRET } from '../support/runtime.js';

/**
 * Random bodies, headers, query strings and path values on every endpoint, with and without a valid
 * token, never get a 5xx: every refusal is a 4xx in the contract's shape. The route list is the
 * OpenAPI document's (so a new route is fuzzed without editing this file) plus the undocumented pages.
 * Executor and webhook dispatcher are off: what a random request creates is never acted on.
 */
const RUNS = 1000;

const UNDOCUMENTED: [string, string][] = [
  ['GET', '/metrics'],
  ['GET', '/openapi.json'],
  ['GET', '/docs/json'],
  ['GET', '/ui'],
  ['GET', '/ui/login'],
  ['POST', '/ui/login'],
  ['GET', '/ui/logout'],
  ['POST', '/ui/logout'],
  ['GET', '/ui/workflows'],
  ['GET', '/ui/workflows/{id}'],
  ['GET', '/ui/workflows/{id}/fragment'],
  ['GET', '/ui/workflows/{id}/actions/{action}'],
  ['POST', '/ui/workflows/{id}/actions/{action}'],
  ['GET', '/ui/{rest}'],
  ['GET', '/ui/assets/{asset}'],
];

const printable = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });

for (const dialect of testDialects()) {
  describe(`every endpoint under random input (${dialect})`, () => {
    let api: ApiHarness;
    let routes: [string, string][] = [];
    const auth: Record<string, Record<string, string>> = {};
    const known: Record<string, string[]> = {};

    before(async () => {
      api = await startApi(dialect, { PROVISIONER_CALLBACK_RATE_LIMIT: '1000000' }, { executor: false, webhooks: false });
      const spec = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
        paths: Record<string, Record<string, unknown>>;
      };
      routes = [
        ...Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as [string, string])),
        ...UNDOCUMENTED,
      ];

      // Something to find: a service, a workflow, a subscription, so valid ids reach the handlers too.
      await api.call({
        method: 'POST',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: {
          slug: 'files',
          name: 'Files',
          version: '1.0.0',
          base_url: 'http://127.0.0.1:9',
          on_failure: 'hold',
          provision: [
            { name: 'create', type: 'http', request: { path: '/accounts' }, compensate: { method: 'DELETE', path: '/accounts' } },
          ],
        },
      });
      const wf = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('t1'),
        payload: { service_slug: 'files' },
      });
      const sub = await api.call({
        method: 'POST',
        url: '/api/v1/admin/webhook-subscriptions',
        as: ADMIN,
        payload: { target_url: 'http://127.0.0.1:9/hook', secret: 'whsec-0123456789abcdef', topics: ['provisioning.*'] },
      });
      known.workflow_id = [wf.json.data.id];
      known.id = known.workflow_id;
      known.service_slug = ['files', 'nope'];
      known.step_name = ['create', 'missing'];
      known.subscription_id = [sub.json?.data?.id ?? 'whs_01J00000000000000000000000'];
      known.delivery_id = ['whd_01J00000000000000000000000'];
      known.action = ['retry-step', 'force-complete', 'cancel', 'nope'];

      const bearer = async (claims: Parameters<typeof signToken>[1]) => ({
        authorization: `Bearer ${await signToken(TEST_JWT_SECRET, claims, '1h')}`,
      });
      auth.none = {};
      auth.admin = await bearer(ADMIN);
      auth.tenantAdmin = await bearer(tenantAdmin('t1'));
      auth.reader = await bearer(tenantReader('t2'));
      auth.registrar = await bearer(REGISTRAR);
      auth.noTenant = await bearer({ sub: 'x', roles: ['tenant_admin'] });
      auth.tampered = { authorization: `${auth.admin.authorization.slice(0, -3)}abc` };
      auth.garbage = { authorization: 'Bearer not.a.jwt' };
      auth.basic = { authorization: 'Basic YWRtaW46YWRtaW4=' };
      const login = await api.app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${encodeURIComponent(auth.admin.authorization.slice(7))}`,
      });
      const cookie = String(login.headers['set-cookie'] ?? '').split(';')[0];
      assert.ok(cookie.includes('='), `a UI session for the fuzzer: ${login.statusCode}`);
      auth.uiSession = { cookie };
      auth.badSession = { cookie: 'prov_ui_session=AAAA.BBBB' };
    });
    after(() => api.close());

    const pathValue = (name: string) =>
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...(known[name] ?? ['x'])) },
        { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '%',
            '%zz',
            '%00',
            '..',
            '%2e%2e',
            'a'.repeat(300),
            'wf_01J0000000000000000000000A',
            '%F0%9F%92%A9',
            '%C0%AF',
          ),
        },
      );
    const queryArb = fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            'limit',
            'cursor',
            'status',
            'service_slug',
            'kind',
            'tenant_id',
            'older_than_s',
            'token',
            'next',
            'topic',
            'state',
            'compensate',
          ),
          printable(8),
        ),
        fc.oneof(
          printable(30),
          fc.integer().map(String),
          fc.constantFrom(
            '-1',
            '0',
            '1',
            '500',
            '501',
            '1e3',
            'NaN',
            'running',
            'completed',
            '',
            'wf_01J0000000000000000000000A',
            'evt_x',
            'true',
          ),
        ),
      ),
      { maxLength: 5 },
    );
    const headersArb = fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'content-type',
          'idempotency-key',
          'x-request-id',
          'accept',
          'cookie',
          'origin',
          'x-forwarded-for',
          'content-encoding',
          'hx-request',
          'referer',
        ),
        fc.stringMatching(/^x-[a-z0-9-]{1,12}$/),
      ),
      fc.oneof(
        printable(60),
        fc.constantFrom(
          'application/json',
          'application/json; charset=utf-16',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/xml',
          '*/*',
          'gzip',
        ),
      ),
      { maxKeys: 4 },
    );
    const plausible = fc.record(
      {
        service_slug: fc.oneof(fc.constant('files'), printable(20)),
        tenant_id: printable(10),
        kind: fc.constantFrom('provision', 'deprovision', 'x'),
        parameters: fc.jsonValue(),
        callback_token: fc.oneof(printable(60), fc.constant(`cbt_${'A'.repeat(43)}`)),
        status: fc.constantFrom('completed', 'success', 'failed', 'running', 'done'),
        slug: fc.oneof(fc.constant('files'), printable(12)),
        name: printable(12),
        version: printable(5),
        base_url: fc.oneof(fc.webUrl(), printable(20)),
        provision: fc.array(
          fc.record(
            {
              name: printable(8),
              type: fc.constantFrom('http', 'callback', 'poll', 'delay', 'x'),
              depends_on: fc.array(printable(4), { maxLength: 2 }),
              request: fc.jsonValue(),
              delay: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        ),
        target_url: fc.oneof(fc.webUrl(), printable(20)),
        secret: printable(40),
        topics: fc.array(printable(30), { maxLength: 3 }),
        reason: printable(50),
        compensate: fc.jsonValue(),
        token: printable(40),
        next: printable(30),
        endpoint: fc.oneof(fc.webUrl(), printable(10)),
        credentials: fc.jsonValue(),
        metadata: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const bodyArb = fc.oneof(
      fc.constant(undefined),
      plausible.map((b) => JSON.stringify(b)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.object().map((o) => JSON.stringify(o)),
      printable(80),
      fc.constantFrom(
        '{',
        '{"a":',
        'null',
        '[]',
        '""',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"x":1}}}',
        'token=abc&next=%2F',
        '\u0000',
      ),
    );

    const requestArb = () =>
      fc
        .record({
          route: fc.constantFrom(...routes),
          // Mostly the route's own method; now and then another one.
          method: fc.oneof(
            { weight: 9, arbitrary: fc.constant(null) },
            { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS') },
          ),
          json: fc.boolean(),
          params: fc.dictionary(
            fc.constantFrom('workflow_id', 'service_slug', 'step_name', 'subscription_id', 'delivery_id', 'id', 'action', 'rest', 'asset'),
            fc.constant(null),
          ),
          query: queryArb,
          headers: headersArb,
          body: bodyArb,
          who: fc.constantFrom(...Object.keys(auth)),
        })
        .chain((r) => fc.tuple(fc.constant(r), fc.tuple(...[...r.route[1].matchAll(/\{(\w+)\}/g)].map((m) => pathValue(m[1])))));

    it(`answers no random request with a 5xx, and every API refusal in the contract's shape (${RUNS} requests)`, async () => {
      await fc.assert(
        fc.asyncProperty(requestArb(), async ([r, values]) => {
          let i = 0;
          const path = r.route[1].replace(/\{\w+\}/g, () => values[i++] as string);
          const qs = new URLSearchParams(r.query).toString();
          const method = r.method ?? r.route[0];
          const headers: Record<string, string> = {
            ...(r.json && r.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...r.headers,
            ...auth[r.who],
          };
          const res = await api.app.inject({
            method: method as 'GET',
            url: qs ? `${path}?${qs}` : path,
            headers,
            ...(r.body === undefined ? {} : { payload: r.body }),
          });
          const where = `${method} ${path}?${qs} as ${r.who}, headers ${JSON.stringify(r.headers)}, body ${JSON.stringify(r.body)?.slice(0, 200)}`;
          assert.ok(res.statusCode < 500, `${res.statusCode} for ${where}: ${res.body.slice(0, 300)}`);
          assert.ok(!/\.ts:\d+:\d+/.test(res.body), `a stack trace leaked for ${where}`);
          if (path.startsWith('/api/') && res.statusCode >= 400 && method !== 'HEAD') {
            const json = JSON.parse(res.body) as { error?: { code: string; request_id: string }; detail?: unknown[] };
            assert.ok(
              json.error
                ? typeof json.error.code === 'string' && typeof json.error.request_id === 'string' && json.error.request_id !== ''
                : Array.isArray(json.detail),
              `${res.statusCode} body not in the contract's shape for ${where}: ${res.body.slice(0, 200)}`,
            );
          }
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    });

    it('answers random paths under the API and the UI with a 4xx, never a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/api/v1/', '/api/v1/admin/', '/api/v1/provisioning/', '/ui/', '/'),
          fc.array(fc.oneof(fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom('..', '%', '%2F', 'workflows', 'wf_x')), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.constantFrom(...Object.keys(auth)),
          async (prefix, segments, who) => {
            const url = prefix + segments.join('/');
            const res = await api.app.inject({ method: 'GET', url, headers: auth[who] });
            assert.ok(res.statusCode < 500, `${res.statusCode} for GET ${url} as ${who}: ${res.body.slice(0, 200)}`);
          },
        ),
        { numRuns: 200, endOnFailure: true },
      );
    });
  });
}
