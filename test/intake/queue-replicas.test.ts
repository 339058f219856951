import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { simFor, unique, untilWorkflow } from '../support/engine.js';
import { createSubscriptionIntake } from '../../src/engine/subscription-intake.js';
import { envelope, INTAKE_SECRET, sendEvent } from './helpers.js';

for (const dialect of testDialects()) {
  describe(`queued subscription events with several replicas (${dialect})`, () => {
    let api: ApiHarness;
    // The runtime's own queue loop is stopped: only the replicas below drain the queue.
    before(async () => {
      api = await startApi(dialect, { PROVISIONER_INTAKE_SECRET: INTAKE_SECRET });
      await api.rt.intake.stop();
    });
    after(async () => {
      await api.close();
    });

    it('applies a queued event exactly once when several replicas drain the queue at the same time', async (t) => {
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { status: 201, json: { id: 'a-1' }, delayMs: 300 });
      sim.route('POST', '/plans', { status: 200, json: {} });
      const slug = unique('svc');
      await api.rt.registry.register({
        slug,
        name: 'S',
        version: '1',
        base_url: sim.url,
        provision: [{ name: 'create', type: 'http', request: { method: 'POST', path: '/accounts' } }],
        update: [{ name: 'plan', type: 'http', request: { method: 'POST', path: '/plans', body: { plan: '{{parameters.plan}}' } } }],
      });
      const tenant = unique('t');
      const a = await sendEvent(api, envelope({ type: 'subscription.activated', tenant, slug, at: 0, data: { plan_code: 'basic' } }));
      const c = await sendEvent(
        api,
        envelope({ type: 'subscription.changed', tenant, slug, at: 1, data: { change_kind: 'plan_change', plan_code: 'pro' } }),
      );
      assert.deepEqual([a.json.data.status, c.json.data.status], ['applied', 'queued']);
      await untilWorkflow(api.rt, a.json.data.workflow_id, 'completed');

      const replicas = [1, 2, 3].map(() =>
        createSubscriptionIntake({
          store: api.rt.store,
          starter: api.rt.starter,
          config: api.rt.config.intake,
          log: api.rt.log,
        }),
      );
      const applied = await Promise.all(replicas.map((r) => r.applyQueued()));
      assert.equal(
        applied.reduce((x, y) => x + y, 0),
        1,
        `one replica applies it: ${applied.join(', ')}`,
      );
      const updates = await api.rt.queries.list({ tenantId: tenant, kind: 'update', limit: 10 });
      assert.equal(updates.items.length, 1);
      await untilWorkflow(api.rt, updates.items[0].id, 'completed');
      assert.deepEqual(
        sim.calls('POST', '/plans').map((r) => r.body),
        [{ plan: 'pro' }],
      );
    });
  });
}
