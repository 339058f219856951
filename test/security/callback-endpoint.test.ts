import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { KyselyPlugin } from 'kysely';
import { buildServer } from '../../src/http/server.js';
import { createCallbackReceiver } from '../../src/engine/callbacks.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, type ApiHarness } from '../support/api.js';
import { eventually, testDialects } from '../support/runtime.js';

/**
 * The callback endpoint is the one door without a JWT (DESIGN §5.1). These tests knock on it over a
 * real socket, and every request is bounded: a callback that hangs fails the test instead of the suite.
 */
const BOUND_MS = 5000;
const CALLBACK = '/api/v1/provisioning/callback';
const WELL_FORMED_UNKNOWN = `cbt_${'A'.repeat(43)}`;

interface Answer {
  status: number;
  json: any /* error and data shapes vary by status */;
  headers: Headers;
}

async function post(base: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${CALLBACK}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(BOUND_MS),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* keep the text: a non-JSON answer fails the shape asserts below */
  }
  return { status: res.status, json, headers: res.headers };
}

function manifest(sim: ServiceSim, slug: string, over: Record<string, unknown> = {}, wait: Record<string, number> = { timeout_s: 30 }) {
  return {
    slug,
    name: slug,
    version: '1.0.0',
    base_url: sim.url,
    on_failure: 'hold',
    provision: [
      { name: 'create_bucket', type: 'callback', request: { path: `/${slug}/buckets`, body: { token: '{{callback.token}}' } }, wait },
    ],
    ...over,
  };
}

for (const dialect of testDialects()) {
  describe(`callback endpoint under hostile input (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    let base: string;
    let tenantSeq = 0;

    before(async () => {
      sim = await startServiceSim();
      api = await startApi(dialect);
      base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    /** Registers `slug` (once), starts a workflow for a fresh tenant and returns it with its callback token. */
    async function waitingWorkflow(slug: string, m: Record<string, unknown>) {
      sim.route('POST', `/${slug}/buckets`, { status: 202 });
      sim.route('POST', `/${slug}/fail`, { status: 400, json: { error: 'no capacity' } });
      sim.route('DELETE', `/${slug}/buckets`, { status: 204 });
      const reg = await api.call({ method: 'PUT', url: '/api/v1/registry/register', as: REGISTRAR, payload: m });
      assert.ok(reg.status === 200 || reg.status === 201, JSON.stringify(reg.json));
      const tenant = `t${++tenantSeq}-${slug}`;
      const start = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin(tenant),
        payload: { service_slug: slug },
      });
      assert.equal(start.status, 201, JSON.stringify(start.json));
      const id = start.json.data.id as string;
      const req = await sim.waitFor(
        (r) => r.path === `/${slug}/buckets` && r.method === 'POST' && r.headers['x-provisioner-workflow'] === id,
        BOUND_MS,
      );
      const token = (req.body as { token: string }).token;
      await stepStatus(id, 'create_bucket', 'waiting_callback');
      return { id, token, tenant };
    }

    const detail = async (id: string) =>
      (await api.call({ method: 'GET', url: `/api/v1/admin/provisioning/workflows/${id}`, as: ADMIN })).json.data;
    const stepStatus = (id: string, step: string, status: string) =>
      eventually(`${step} to be ${status}`, async () => {
        const d = await detail(id);
        return d.steps.find((s: { name: string }) => s.name === step)?.status === status ? d : null;
      });

    it('answers a token that is not in the callback-token format 404 without querying the database', async () => {
      let queries = 0;
      const counter: KyselyPlugin = {
        transformQuery: (args) => {
          queries++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      // The same receiver the runtime builds, over a store whose every query is counted.
      const counted = { ...api.rt.store, db: api.rt.store.db.withPlugin(counter) };
      const app = await buildServer({
        ...api.rt,
        callbacks: createCallbackReceiver({ store: counted, cipher: api.rt.cipher, commits: api.rt.commits }),
      });
      try {
        for (const token of [
          '../../etc/passwd',
          "' or 1=1 --",
          'cbt_short',
          `cbt_${'A'.repeat(42)}!`,
          `CBT_${'A'.repeat(43)}`,
          `cbt_${'A'.repeat(44)}`,
          'x'.repeat(512),
        ]) {
          const r = await app.inject({ method: 'POST', url: CALLBACK, payload: { callback_token: token, status: 'completed' } });
          assert.equal(r.statusCode, 404, `${token}: ${r.body}`);
          assert.equal(r.json().error.code, 'not_found');
        }
        assert.equal(queries, 0, 'malformed tokens never reached the database');

        const r = await app.inject({
          method: 'POST',
          url: CALLBACK,
          payload: { callback_token: WELL_FORMED_UNKNOWN, status: 'completed' },
        });
        assert.equal(r.statusCode, 404);
        assert.ok(queries >= 1, 'a well-formed token is looked up (by its hash)');
      } finally {
        await app.close();
      }
    });

    it('stores only the SHA-256 hash of a callback token, never the token itself', async () => {
      const { token } = await waitingWorkflow('hashed', manifest(sim, 'hashed'));
      const { createHash } = await import('node:crypto');
      const rows = await api.rt.store.db.selectFrom('steps').selectAll().execute();
      const everything = JSON.stringify(rows);
      assert.ok(!everything.includes(token), 'the plaintext token is not stored');
      assert.ok(everything.includes(createHash('sha256').update(token).digest('hex')), 'its hash is');
    });

    it('answers 413 to a body over 256 KiB, before the token is looked at, and takes one just under it', async () => {
      const over = await post(base, {
        callback_token: WELL_FORMED_UNKNOWN,
        status: 'completed',
        metadata: { pad: 'x'.repeat(256 * 1024) },
      });
      assert.equal(over.status, 413);
      assert.equal(over.json.error.code, 'payload_too_large');
      const under = await post(base, {
        callback_token: WELL_FORMED_UNKNOWN,
        status: 'completed',
        metadata: { pad: 'x'.repeat(250 * 1024) },
      });
      assert.equal(under.status, 404, 'a body under the limit reaches the token check');
      // A lying Content-Length cannot smuggle a bigger body through either.
      const chunked = await fetch(`${base}${CALLBACK}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(BOUND_MS),
        duplex: 'half',
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(`{"callback_token":"${WELL_FORMED_UNKNOWN}","status":"completed","metadata":{"pad":"`));
            for (let i = 0; i < 300; i++) c.enqueue(new TextEncoder().encode('y'.repeat(1024)));
            c.enqueue(new TextEncoder().encode('"}}'));
            c.close();
          },
        }),
      } as RequestInit);
      assert.equal(chunked.status, 413, 'a chunked body without Content-Length is cut off at the limit');
      await chunked.body?.cancel();
    });

    it('answers 409 to a second, different final callback and keeps the first; an identical repeat is a duplicate', async () => {
      const { id, token } = await waitingWorkflow('superseded', manifest(sim, 'superseded'));
      const first = await post(base, { callback_token: token, status: 'completed', endpoint: 'https://b.example/1' });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.equal(first.json.data.duplicate, false);
      const superseded = await post(base, { callback_token: token, status: 'failed', error: 'changed my mind' });
      assert.equal(superseded.status, 409);
      assert.equal(superseded.json.error.code, 'conflict');
      assert.match(superseded.json.error.message, /already completed/);
      const different = await post(base, { callback_token: token, status: 'completed', endpoint: 'https://b.example/2' });
      assert.equal(different.status, 409);
      const heartbeat = await post(base, { callback_token: token, status: 'in_progress' });
      assert.equal(heartbeat.status, 409, 'a heartbeat after the end does not reopen the wait');
      const repeat = await post(base, { callback_token: token, status: 'success', endpoint: 'https://b.example/1' });
      assert.equal(repeat.status, 200);
      assert.equal(repeat.json.data.duplicate, true);
      const d = await detail(id);
      assert.equal(d.status, 'completed');
      assert.equal(d.endpoint, 'https://b.example/1');
    });

    it('accepts exactly one of many identical callbacks sent at once; the rest are duplicates, none hangs', async () => {
      const { id, token } = await waitingWorkflow('race', manifest(sim, 'race'));
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => post(base, { callback_token: token, status: 'completed', metadata: { n: 1 } })),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        answers.map(() => 200),
        JSON.stringify(answers.map((a) => a.json)),
      );
      assert.equal(answers.filter((a) => a.json.data.duplicate === false).length, 1);
      const d = await detail(id);
      assert.equal(d.status, 'completed');
      const events = await api.call({ method: 'GET', url: `/api/v1/admin/provisioning/workflows/${id}/events?limit=500`, as: ADMIN });
      assert.equal(events.json.data.filter((e: { type: string }) => e.type === 'step.completed').length, 1);
    });

    it('answers 410 to a callback (or heartbeat) that arrives after the wait timed out', async () => {
      const { id, token } = await waitingWorkflow('late', manifest(sim, 'late', {}, { timeout_s: 0.3 }));
      await eventually('the wait to time out', async () => (await detail(id)).status === 'failed');
      const late = await post(base, { callback_token: token, status: 'completed' });
      assert.equal(late.status, 410);
      assert.equal(late.json.error.code, 'gone');
      assert.match(late.json.error.message, /expired/);
      const lateBeat = await post(base, { callback_token: token, status: 'in_progress' });
      assert.equal(lateBeat.status, 410);
      const d = await detail(id);
      assert.equal(d.steps[0].error, 'timed out waiting for callback');
    });

    it('answers 409 once a rollback cancelled the waiting step, and after force-complete or cancel', async () => {
      const rollback = manifest(sim, 'rolled', {
        on_failure: 'rollback',
        provision: [
          {
            name: 'create_bucket',
            type: 'callback',
            request: { path: '/rolled/buckets', body: { token: '{{callback.token}}' } },
            wait: { timeout_s: 30 },
          },
          { name: 'then_fail', type: 'delay', delay: { seconds: 0.5 } },
          { name: 'fail', type: 'http', depends_on: ['then_fail'], request: { path: '/rolled/fail' }, retry: { max_attempts: 1 } },
        ],
      });
      const r = await waitingWorkflow('rolled', rollback);
      await eventually('the rollback', async () => (await detail(r.id)).status === 'rolled_back');
      const afterRollback = await post(base, { callback_token: r.token, status: 'completed' });
      assert.equal(afterRollback.status, 409);
      assert.match(afterRollback.json.error.message, /cancelled/);

      const f = await waitingWorkflow('forced', manifest(sim, 'forced'));
      const forced = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${f.id}/force-complete`,
        as: ADMIN,
        payload: { reason: 'done by hand' },
      });
      assert.equal(forced.status, 200);
      const afterForce = await post(base, { callback_token: f.token, status: 'completed' });
      assert.equal(afterForce.status, 409);
      assert.match(afterForce.json.error.message, /skipped/);

      const c = await waitingWorkflow('cancelled', manifest(sim, 'cancelled'));
      const cancelled = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${c.id}/cancel`,
        as: ADMIN,
        payload: {},
      });
      assert.equal(cancelled.status, 200);
      const afterCancel = await post(base, { callback_token: c.token, status: 'failed', error: 'x' });
      assert.equal(afterCancel.status, 409);
      assert.equal((await detail(c.id)).status, 'cancelled', 'the refused callback changed nothing');
    });

    it('answers 403, not data, to a token without tenant_id on every tenant endpoint', async () => {
      const noTenant = [
        { sub: 'someone' },
        { sub: 'admin-of-nothing', roles: ['tenant_admin'], permissions: ['provisioning:write'] },
        ADMIN,
      ];
      const wf = 'wf_01J0000000000000000000000A';
      const endpoints = [
        { method: 'GET', url: '/api/v1/provisioning/status/files' },
        { method: 'GET', url: '/api/v1/provisioning/status/files/credentials' },
        { method: 'GET', url: '/api/v1/provisioning/workflows' },
        { method: 'GET', url: `/api/v1/provisioning/workflows/${wf}` },
        { method: 'GET', url: `/api/v1/provisioning/workflows/${wf}/events` },
        { method: 'POST', url: '/api/v1/provisioning/workflows', payload: { service_slug: 'files' } },
      ] as const;
      for (const claims of noTenant) {
        for (const e of endpoints) {
          const r = await api.call({ ...e, as: claims });
          assert.equal(r.status, 403, `${e.method} ${e.url} as ${JSON.stringify(claims)}: ${JSON.stringify(r.json)}`);
          assert.equal(r.json.error.code, 'forbidden');
          assert.match(r.json.error.message, /tenant_id/);
        }
      }
    });
  });

  describe(`callback rate limit (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect, { PROVISIONER_CALLBACK_RATE_LIMIT: '3' });
    });
    after(() => api.close());
    const from = (
      ip: string,
      body: unknown = { callback_token: WELL_FORMED_UNKNOWN, status: 'completed' },
      headers: Record<string, string> = {},
    ) => api.app.inject({ method: 'POST', url: CALLBACK, payload: body as object, remoteAddress: ip, headers });

    /** A callback step waiting on `sim`; resolves with its token. */
    async function waitingToken(sim: ServiceSim, slug: string): Promise<string> {
      sim.route('POST', '/jobs', { status: 202, json: {} });
      await api.rt.registry.register({
        slug,
        name: slug,
        version: '1',
        base_url: sim.url,
        provision: [
          {
            name: 'job',
            type: 'callback',
            request: { path: '/jobs', body: { callback_token: '{{callback.token}}' } },
            wait: { timeout_s: 600, heartbeat_s: 600 },
          },
        ],
      });
      await api.rt.starter.start({
        tenantId: `${slug}-tenant`,
        serviceSlug: slug,
        kind: 'provision',
        parameters: {},
        idempotencyKey: null,
        actor: 'test',
      });
      const req = await sim.waitFor((r) => r.path === '/jobs');
      return (req.body as { callback_token: string }).callback_token;
    }

    it('answers 429 with Retry-After once a source exceeds PROVISIONER_CALLBACK_RATE_LIMIT failed lookups, and limits each source apart', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await from('203.0.113.7')).statusCode, 404);
      const limited = await from('203.0.113.7');
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().error.code, 'rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${limited.headers['retry-after']}`);
      assert.match(limited.json().error.message, /retry after \d+ s/);
      // Oversized and malformed bodies never reach a lookup: refused as such, at no cost.
      assert.equal((await from('203.0.113.7', { pad: 'x'.repeat(300 * 1024) })).statusCode, 413);
      assert.equal((await from('203.0.113.7', '{not json', { 'content-type': 'application/json' })).statusCode, 422);

      assert.equal((await from('198.51.100.1')).statusCode, 404, 'another source is not limited by the first');
      const health = await api.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.7' });
      assert.equal(health.statusCode, 200);
    });

    it("never throttles a valid token: not for its own volume, not for others' garbage from the same address", async () => {
      const sim = await startServiceSim();
      try {
        const token = await waitingToken(sim, `busy-${dialect}`);
        // The service's address is also the garbage's (one load balancer, no trusted proxy configured).
        for (let i = 0; i < 10; i++) await from('192.0.2.50');
        assert.equal((await from('192.0.2.50')).statusCode, 429, 'the garbage is limited');
        // 20 valid callbacks against a limit of 3 a minute: each one is accepted.
        for (let i = 0; i < 20; i++) {
          const r = await from('192.0.2.50', { callback_token: token, status: 'in_progress', metadata: { i } });
          assert.equal(r.statusCode, 200, `valid callback ${i}: ${r.body}`);
        }
        const done = await from('192.0.2.50', { callback_token: token, status: 'completed' });
        assert.equal(done.statusCode, 200, done.body);
      } finally {
        await sim.close();
      }
    });
  });

  describe(`callbacks behind trusted proxies (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect, { PROVISIONER_CALLBACK_RATE_LIMIT: '2', PROVISIONER_TRUSTED_PROXIES: '10.0.0.1' });
    });
    after(() => api.close());
    const via = (peer: string, client: string) =>
      api.app.inject({
        method: 'POST',
        url: CALLBACK,
        payload: { callback_token: WELL_FORMED_UNKNOWN, status: 'completed' },
        remoteAddress: peer,
        headers: { 'x-forwarded-for': client },
      });

    it('counts each client behind a trusted proxy apart, and ignores X-Forwarded-For from anyone else', async () => {
      for (let i = 0; i < 2; i++) assert.equal((await via('10.0.0.1', '203.0.113.9')).statusCode, 404);
      assert.equal((await via('10.0.0.1', '203.0.113.9')).statusCode, 429, 'the garbage client is limited');
      assert.equal((await via('10.0.0.1', '203.0.113.10')).statusCode, 404, 'another client behind the same proxy is not');
      // An untrusted peer cannot pick its bucket by sending X-Forwarded-For.
      for (let i = 0; i < 2; i++) assert.equal((await via('198.51.100.9', `192.0.2.${i}`)).statusCode, 404);
      assert.equal((await via('198.51.100.9', '192.0.2.77')).statusCode, 429);
    });
  });
}
