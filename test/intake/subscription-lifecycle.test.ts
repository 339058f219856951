import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, startApi, tenantAdmin, type ApiHarness } from '../support/api.js';
import { testDialects, eventually } from '../support/runtime.js';
import { FAST_RETRY, simFor, unique, untilWorkflow } from '../support/engine.js';
import type { ServiceSim } from '../support/service-sim.js';
import { envelope, INTAKE_SECRET, sendEvent } from './helpers.js';

function lifecycleManifest(sim: ServiceSim) {
  return {
    slug: unique('plans'),
    name: 'Plans',
    version: '1.0.0',
    base_url: sim.url,
    provision: [
      {
        name: 'create',
        type: 'http',
        retry: FAST_RETRY,
        request: { method: 'POST', path: '/accounts', body: { tenant: '{{tenant.id}}', plan: '{{parameters.plan}}' } },
        compensate: { method: 'DELETE', path: '/accounts/{{steps.create.output.id}}' },
      },
    ],
    update: [
      {
        name: 'change_plan',
        type: 'callback',
        retry: FAST_RETRY,
        request: {
          method: 'POST',
          path: '/plans',
          body: {
            account: '{{provision.steps.create.output.id}}',
            plan: '{{parameters.plan}}',
            previous: '{{previous.parameters.plan}}',
            token: '{{callback.token}}',
          },
        },
        wait: { timeout_s: 30 },
      },
    ],
  };
}

for (const dialect of testDialects()) {
  describe(`subscription lifecycle driven by signed ScaiControl events (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect, { PROVISIONER_INTAKE_SECRET: `old-secret,${INTAKE_SECRET}` });
    });
    after(async () => {
      await api.close();
    });

    const status = async (tenant: string, slug: string) =>
      (await api.call({ method: 'GET', url: `/api/v1/provisioning/status/${slug}`, as: tenantAdmin(tenant) })).json.data;

    async function completeUpdate(sim: ServiceSim, plan: string, credentials: Record<string, unknown>) {
      const req = await sim.waitFor((r) => r.path === '/plans' && (r.body as { plan?: string }).plan === plan, 5000);
      const token = (req.body as { token: string }).token;
      const cb = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: { callback_token: token, status: 'completed', credentials },
      });
      assert.equal(cb.status, 200, cb.body);
      return req.body as { account: string; plan: string; previous: string };
    }

    it('activated provisions, changed updates (queued while an update runs, older events ignored), cancelled deprovisions', async (t) => {
      const sim = await simFor(t);
      sim.route('POST', '/accounts', {
        status: 201,
        json: { id: 'acct-1', endpoint: 'https://plans.example/acct-1', credentials: { user: 'u1', password: 'p1' } },
      });
      sim.route('POST', '/plans', { status: 202, json: { accepted: true } });
      sim.route('DELETE', '/accounts/:id', { status: 204 });
      const m = lifecycleManifest(sim);
      await api.rt.registry.register(m);
      const tenant = unique('acme');

      // activated → provision
      const activated = envelope({ type: 'subscription.activated', tenant, slug: m.slug, at: 0, data: { plan_code: 'basic' } });
      const a = await sendEvent(api, activated);
      assert.equal(a.status, 202, a.body);
      assert.equal(a.json.data.status, 'applied');
      assert.equal(a.json.data.event_id, activated.event_id);
      await untilWorkflow(api.rt, a.json.data.workflow_id, 'completed');
      let s = await status(tenant, m.slug);
      assert.equal(s.state, 'provisioned');
      assert.deepEqual(s.parameters, { plan: 'basic' });
      assert.equal(s.endpoint, 'https://plans.example/acct-1');

      // The same event again, by event_id and by idempotency_key: 200, the same data, nothing new.
      const again = await sendEvent(api, activated);
      assert.equal(again.status, 200);
      assert.deepEqual(again.json.data, a.json.data);
      const sameKey = await sendEvent(api, { ...activated, event_id: `${activated.event_id}-resent` });
      assert.equal(sameKey.status, 200);
      assert.deepEqual(sameKey.json.data, a.json.data);
      assert.equal(sim.calls('POST', '/accounts').length, 1);

      // changed (plan change) → update workflow reading the previous parameters and the provisioning's outputs
      const toPro = await sendEvent(
        api,
        envelope({ type: 'subscription.changed', tenant, slug: m.slug, at: 10, data: { change_kind: 'plan_change', plan_code: 'pro' } }),
      );
      assert.equal(toPro.status, 202, toPro.body);
      assert.equal(toPro.json.data.status, 'applied');
      const proWf = toPro.json.data.workflow_id as string;
      await sim.waitFor((r) => r.path === '/plans');
      s = await status(tenant, m.slug);
      assert.equal(s.state, 'updating');
      assert.deepEqual([s.kind, s.workflow_id, s.update?.parameters?.plan, s.parameters.plan], ['update', proWf, 'pro', 'basic']);
      assert.equal(s.endpoint, 'https://plans.example/acct-1', 'an update under way still serves what is in force');

      // An event while that update is active is queued; an older one (out of order) is recorded and ignored.
      const toEnterprise = await sendEvent(
        api,
        envelope({
          type: 'subscription.changed',
          tenant,
          slug: m.slug,
          at: 20,
          data: { change_kind: 'plan_change', plan_code: 'enterprise' },
        }),
      );
      assert.equal(toEnterprise.status, 202, toEnterprise.body);
      assert.deepEqual([toEnterprise.json.data.status, toEnterprise.json.data.workflow_id], ['queued', null]);
      const stale = await sendEvent(
        api,
        envelope({ type: 'subscription.changed', tenant, slug: m.slug, at: 5, data: { change_kind: 'plan_change', plan_code: 'starter' } }),
      );
      assert.equal(stale.status, 202, stale.body);
      assert.equal(stale.json.data.status, 'ignored');

      const first = await completeUpdate(sim, 'pro', { plan_key: 'k-pro' });
      assert.deepEqual(first, { account: 'acct-1', plan: 'pro', previous: 'basic', token: (first as { token?: string }).token });
      await untilWorkflow(api.rt, proWf, 'completed');

      // Once the blocking update ended, the queued event is applied: a second update, pro → enterprise.
      const second = await completeUpdate(sim, 'enterprise', { plan_key: 'k-ent' });
      assert.equal(second.previous, 'pro');
      const queuedNow = await eventually('the queued event to be applied', async () => {
        const l = await api.call({
          method: 'GET',
          url: `/api/v1/admin/events/subscriptions?tenant_id=${tenant}&status=applied`,
          as: ADMIN,
        });
        return l.json.data.find((e: { event_id: string }) => e.event_id === toEnterprise.json.data.event_id);
      });
      await untilWorkflow(api.rt, queuedNow.workflow_id, 'completed');
      s = await status(tenant, m.slug);
      assert.deepEqual([s.state, s.parameters, s.update], ['provisioned', { plan: 'enterprise' }, null]);
      assert.equal(
        sim.calls('POST', '/plans').some((r) => (r.body as { plan: string }).plan === 'starter'),
        false,
        'the older event ran nothing',
      );
      const creds = await api.call({ method: 'GET', url: `/api/v1/provisioning/status/${m.slug}/credentials`, as: tenantAdmin(tenant) });
      assert.deepEqual(
        creds.json.data.credentials,
        { user: 'u1', password: 'p1', plan_key: 'k-ent' },
        'credentials merge the update over the provisioning',
      );

      // The repeat of a queued-then-applied event answers what became of it.
      const repeatQueued = await sendEvent(api, {
        ...envelope({ type: 'subscription.changed', tenant, slug: m.slug, at: 20 }),
        event_id: toEnterprise.json.data.event_id,
      });
      assert.deepEqual(
        [repeatQueued.status, repeatQueued.json.data.status, repeatQueued.json.data.workflow_id],
        [200, 'applied', queuedNow.workflow_id],
      );

      // cancelled → deprovision → not_provisioned, credentials gone
      const cancelled = await sendEvent(api, envelope({ type: 'subscription.cancelled', tenant, slug: m.slug, at: 30 }));
      assert.deepEqual([cancelled.status, cancelled.json.data.status], [202, 'applied']);
      await untilWorkflow(api.rt, cancelled.json.data.workflow_id, 'completed');
      assert.equal(sim.calls('DELETE', '/accounts/acct-1').length, 1);
      s = await status(tenant, m.slug);
      assert.deepEqual(
        [s.status, s.state, s.endpoint, s.has_credentials, s.parameters],
        ['not_provisioned', 'not_provisioned', null, false, null],
      );
      const gone = await api.call({ method: 'GET', url: `/api/v1/provisioning/status/${m.slug}/credentials`, as: tenantAdmin(tenant) });
      assert.equal(gone.status, 404);

      // Every event is listed with what became of it.
      const list = await api.call({ method: 'GET', url: `/api/v1/admin/events/subscriptions?tenant_id=${tenant}`, as: ADMIN });
      assert.equal(list.status, 200, list.body);
      const byStatus = list.json.data.map((e: { event_type: string; status: string }) => `${e.event_type}:${e.status}`).reverse();
      assert.deepEqual(byStatus, [
        'subscription.activated:applied',
        'subscription.changed:applied',
        'subscription.changed:applied',
        'subscription.changed:ignored',
        'subscription.cancelled:applied',
      ]);
      const ignored = list.json.data.find((e: { status: string }) => e.status === 'ignored');
      assert.match(ignored.reason, /older than event/);
    });
  });
}
