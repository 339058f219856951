import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ADMIN, startApi, tenantAdmin, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { simFor, unique, untilWorkflow } from '../support/engine.js';
import { envelope, INTAKE_SECRET, sendEvent } from '../intake/helpers.js';

for (const dialect of testDialects()) {
  describe(`subscription intake contract (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect, {
        PROVISIONER_INTAKE_SECRET: INTAKE_SECRET,
        PROVISIONER_INTAKE_FIELD_MAP: 'service_slug=data.product.slug,tier=data.plan.tier',
      });
    });
    after(async () => {
      await api.close();
    });

    const listFor = async (tenant: string) =>
      (await api.call({ method: 'GET', url: `/api/v1/admin/events/subscriptions?tenant_id=${tenant}`, as: ADMIN })).json.data;

    it('answers 401 for a bad signature, an unknown secret, a missing signature or a timestamp more than 5 minutes off, and stores nothing', async () => {
      const tenant = unique('t');
      const body = envelope({ type: 'subscription.activated', tenant, slug: 'x', at: 0 });
      const raw = JSON.stringify(body);
      const now = Math.floor(Date.now() / 1000);
      for (const [why, opts] of [
        ['wrong secret', { secret: 'not-the-secret' }],
        ['stale timestamp', { timestampS: now - 310 }],
        ['future timestamp', { timestampS: now + 310 }],
        ['malformed signature', { signature: 'md5=abc' }],
      ] as const) {
        const r = await sendEvent(api, body, opts);
        assert.equal(r.status, 401, `${why}: ${r.body}`);
        assert.equal(r.json.error.code, 'unauthorized');
      }
      const unsigned = await api.call({
        method: 'POST',
        url: '/api/v1/events/subscriptions',
        payload: raw,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(unsigned.status, 401);
      assert.deepEqual(await listFor(tenant), []);
    });

    it('accepts an HMAC over the raw body alone as well as over "<timestamp>.<body>"', async (t) => {
      const sim = await simFor(t);
      sim.route('POST', '/go', { status: 200, json: {} });
      const slug = unique('svc');
      await api.rt.registry.register({
        slug,
        name: 'S',
        version: '1',
        base_url: sim.url,
        provision: [{ name: 'go', type: 'http', request: { method: 'POST', path: '/go' } }],
      });
      const tenant = unique('t');
      const body = envelope({ type: 'subscription.activated', tenant, slug: 'ignored', at: 0, data: { product: { slug } } });
      const raw = JSON.stringify(body);
      const r = await sendEvent(api, raw, {
        signature: `sha256=${createHmac('sha256', INTAKE_SECRET).update(raw).digest('hex')}`,
        contentType: 'application/json; charset=utf-8',
      });
      assert.equal(r.status, 202, r.body);
      assert.equal(r.json.data.status, 'applied');
      await untilWorkflow(api.rt, r.json.data.workflow_id, 'completed');
      const [stored] = await listFor(tenant);
      assert.equal(stored.service_slug, slug, "the operator's field map read data.product.slug");
    });

    it('reads mapped parameter fields and plan_code into parameters', async (t) => {
      const sim = await simFor(t);
      sim.route('POST', '/go', { status: 200, json: {} });
      const slug = unique('svc');
      await api.rt.registry.register({
        slug,
        name: 'S',
        version: '1',
        base_url: sim.url,
        provision: [{ name: 'go', type: 'http', request: { method: 'POST', path: '/go', body: { p: '{{parameters}}' } } }],
      });
      const tenant = unique('t');
      const r = await sendEvent(
        api,
        envelope({
          type: 'subscription.activated',
          tenant,
          slug: 'x',
          at: 0,
          data: { product: { slug }, plan_code: 'gold', plan: { tier: 3 }, parameters: { seats: 5 } },
        }),
      );
      assert.equal(r.status, 202, r.body);
      await untilWorkflow(api.rt, r.json.data.workflow_id, 'completed');
      assert.deepEqual(sim.calls('POST', '/go')[0].body, { p: { seats: 5, plan: 'gold', tier: 3 } });
    });

    it('records other event types and change kinds as ignored, with the reason', async () => {
      const tenant = unique('t');
      const suspended = await sendEvent(api, envelope({ type: 'subscription.suspended', tenant, slug: 'x', at: 0 }));
      assert.deepEqual([suspended.status, suspended.json.data.status, suspended.json.data.workflow_id], [202, 'ignored', null]);
      const renamed = await sendEvent(
        api,
        envelope({ type: 'subscription.changed', tenant, slug: 'x', at: 1, data: { change_kind: 'billing_contact' } }),
      );
      assert.equal(renamed.json.data.status, 'ignored');
      const list = await listFor(tenant);
      assert.equal(list.length, 2);
      assert.match(list[1].reason, /needs no workflow/);
      const filtered = await api.call({
        method: 'GET',
        url: `/api/v1/admin/events/subscriptions?tenant_id=${tenant}&status=ignored&limit=1`,
        as: ADMIN,
      });
      assert.equal(filtered.json.data.length, 1);
      assert.ok(filtered.json.meta.next_cursor);
      const next = await api.call({
        method: 'GET',
        url: `/api/v1/admin/events/subscriptions?tenant_id=${tenant}&status=ignored&limit=1&cursor=${filtered.json.meta.next_cursor}`,
        as: ADMIN,
      });
      assert.deepEqual([next.json.data.length, next.json.meta.next_cursor], [1, null]);
      assert.notEqual(next.json.data[0].id, filtered.json.data[0].id);
    });

    it('rejects an event it cannot apply with the reason, and evaluates it again when resent', async () => {
      const tenant = unique('t');
      const noService = envelope({
        type: 'subscription.activated',
        tenant,
        slug: 'x',
        at: 0,
        data: { product: { slug: 'no-such-service' } },
      });
      const r = await sendEvent(api, noService);
      assert.equal(r.status, 404, r.body);
      const missing = envelope({ type: 'subscription.activated', tenant, slug: 'x', at: 0 });
      const m = await sendEvent(api, missing);
      assert.equal(m.status, 422);
      assert.deepEqual(m.json.detail[0].loc, ['body', 'data', 'product', 'slug']);
      const list = await listFor(tenant);
      assert.deepEqual(
        list.map((e: { status: string }) => e.status),
        ['rejected', 'rejected'],
      );
      assert.match(list[1].reason, /unknown service "no-such-service"/);
      const again = await sendEvent(api, noService);
      assert.equal(again.status, 404);
      assert.equal((await listFor(tenant)).length, 2, 'a resent rejected event replaces its record');
    });

    it('answers 422 for a body that is not the envelope, after checking the signature', async () => {
      const bad = await sendEvent(api, { event_type: 'subscription.activated', data: {} });
      assert.equal(bad.status, 422);
      assert.ok(
        bad.json.detail.some((d: { loc: string[] }) => d.loc.join('.') === 'body.event_id'),
        bad.body,
      );
      const notJson = await sendEvent(api, '{"event_id":');
      assert.equal(notJson.status, 422);
    });

    it('needs admin:provisioning for the event list', async () => {
      const r = await api.call({ method: 'GET', url: '/api/v1/admin/events/subscriptions', as: tenantAdmin('t') });
      assert.equal(r.status, 403);
    });

    it('documents the intake and the list in the OpenAPI document', async () => {
      const spec = (await api.call({ method: 'GET', url: '/openapi.json' })).json;
      assert.ok(spec.paths['/api/v1/events/subscriptions'].post);
      assert.deepEqual(spec.paths['/api/v1/events/subscriptions'].post.security, []);
      assert.ok(spec.paths['/api/v1/admin/events/subscriptions'].get);
      assert.ok(spec.components.schemas.SubscriptionEvent);
      assert.ok(spec.components.schemas.SubscriptionEventResponse);
      assert.deepEqual(spec.components.schemas.WorkflowResponse.properties.kind.enum, ['provision', 'update', 'deprovision']);
    });
  });

  describe(`subscription intake while PROVISIONER_INTAKE_SECRET is unset (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect);
    });
    after(async () => {
      await api.close();
    });

    it('answers 404', async () => {
      const r = await sendEvent(api, envelope({ type: 'subscription.activated', tenant: 't', slug: 'x', at: 0 }));
      assert.equal(r.status, 404);
      assert.match(r.json.error.message, /PROVISIONER_INTAKE_SECRET/);
    });
  });
}
