import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, ValidationFailed, NotFound } from '../../src/domain/errors.js';
import { testDialects } from '../support/runtime.js';
import {
  manifestFor,
  registerAndStart,
  sharedRuntime,
  simFor,
  stepOf,
  tokenOf,
  unique,
  untilStep,
  untilWorkflow,
} from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`starting workflows (${dialect})`, () => {
    const env = sharedRuntime(dialect);
    const start = (slug: string, tenantId: string, idempotencyKey: string | null = null, kind: 'provision' | 'deprovision' = 'provision') =>
      env.rt.starter.start({ tenantId, serviceSlug: slug, kind, parameters: {}, idempotencyKey, actor: 'test' });

    it('refuses a new workflow while one is active for the tenant and service, naming the active one', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/wait', { status: 202 });
      const m = manifestFor(sim, [
        {
          name: 'waits',
          type: 'callback',
          request: { path: '/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
      ]);
      const first = await registerAndStart(rt, m);

      await assert.rejects(start(m.slug, first.tenantId), (e: unknown) => e instanceof Conflict && e.message.includes(first.workflowId));
      const other = await start(m.slug, unique('tenant'));
      assert.equal(other.created, true, 'another tenant is not blocked');
      await rt.admin.cancel(other.workflowId, false, { actor: 'test', reason: null });
    });

    it('lets exactly one of two concurrent starts for the same tenant and service through', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/wait', { status: 202 });
      const m = manifestFor(sim, [
        {
          name: 'waits',
          type: 'callback',
          request: { path: '/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
      ]);
      await rt.registry.register(m);
      const tenant = unique('tenant');
      const results = await Promise.allSettled([start(m.slug, tenant), start(m.slug, tenant), start(m.slug, tenant)]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof Conflict, String(r.reason));
      assert.equal((await rt.queries.list({ tenantId: tenant, limit: 10 })).items.length, 1);
    });

    it('returns the same workflow for a repeated Idempotency-Key, and refuses the key for a different request', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/ok', { json: {} });
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/ok' } }]);
      await rt.registry.register(m);
      const tenant = unique('tenant');

      const first = await start(m.slug, tenant, 'key-1');
      assert.equal(first.created, true);
      const again = await start(m.slug, tenant, 'key-1');
      assert.deepEqual(again, { workflowId: first.workflowId, created: false });
      await untilWorkflow(rt, first.workflowId, 'completed');
      assert.deepEqual(await start(m.slug, tenant, 'key-1'), { workflowId: first.workflowId, created: false }, 'also after it ended');
      await assert.rejects(
        start(m.slug, tenant, 'key-1', 'deprovision'),
        ValidationFailed,
        'a key reused for a different request is refused (422), naming the first workflow',
      );
      assert.equal(sim.calls('POST', '/ok').length, 1);
      assert.equal((await start(m.slug, unique('tenant'), 'key-1')).created, true, 'keys are per tenant');

      const racer = unique('tenant');
      const raced = await Promise.all([start(m.slug, racer, 'key-2'), start(m.slug, racer, 'key-2')]);
      assert.equal(raced[0].workflowId, raced[1].workflowId, 'concurrent repeats of a key get the same workflow');
      assert.deepEqual(raced.map((r) => r.created).sort(), [false, true]);

      // Many at once: a repeat that looks up the key before the first commits, and the service's state
      // after, finds the first workflow active; it must answer with that workflow, not a conflict.
      const tenants = Array.from({ length: 15 }, () => unique('tenant'));
      const all = await Promise.all(tenants.flatMap((tn) => [1, 2, 3].map(() => start(m.slug, tn, 'key-3').then((r) => ({ tn, ...r })))));
      for (const tn of tenants) {
        const mine = all.filter((r) => r.tn === tn);
        assert.equal(new Set(mine.map((r) => r.workflowId)).size, 1, `one workflow for ${tn}`);
        assert.equal(mine.filter((r) => r.created).length, 1, `created once for ${tn}`);
      }
    });

    it('refuses an unknown service', async () => {
      await assert.rejects(start('no-such-service', 't'), NotFound);
    });

    it('keeps running the version a workflow started with when a new version is registered', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const simV2 = await simFor(t);
      sim.route('POST', '/v1/wait', { status: 202 });
      sim.route('POST', '/v1/next', { json: { v: 1 } });
      simV2.route('POST', '/v2/only', { json: { v: 2 } });
      const v1 = manifestFor(sim, [
        {
          name: 'waits',
          type: 'callback',
          request: { path: '/v1/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
        { name: 'next', type: 'http', depends_on: ['waits'], request: { path: '/v1/next' } },
      ]);
      const p = await registerAndStart(rt, v1);
      const req = await sim.waitFor((r) => r.path === '/v1/wait');
      await untilStep(rt, p.workflowId, 'waits', 'waiting_callback');

      const v2 = {
        ...v1,
        version: '2.0.0',
        base_url: simV2.url,
        provision: [{ name: 'only', type: 'http', request: { path: '/v2/only' } }],
      };
      const put = await rt.registry.upsert(v2);
      assert.equal(put.versionChanged, true);
      await rt.callbacks.receive(tokenOf(req), { status: 'completed' });
      const d = await untilWorkflow(rt, p.workflowId, 'completed');
      assert.equal(d.service_version, '1.0.0');
      assert.deepEqual(
        d.steps.map((s) => s.name),
        ['waits', 'next'],
      );
      assert.deepEqual(stepOf(d, 'next').output, { v: 1 });
      assert.equal(sim.calls('POST', '/v1/next').length, 1);
      assert.equal(simV2.requests.length, 0);

      const later = await start(v1.slug, unique('tenant'));
      const d2 = await untilWorkflow(rt, later.workflowId, 'completed');
      assert.equal(d2.service_version, '2.0.0');
      assert.deepEqual(
        d2.steps.map((s) => s.name),
        ['only'],
      );
    });
  });
}
