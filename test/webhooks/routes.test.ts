import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestRuntime, testDialects, type TestRuntime } from '../support/runtime.js';
import { webhooksRepo } from '../../src/store/webhooks-repo.js';
import { startReceiver, type Receiver } from './receiver.js';
import { FAST_SCHEDULE, runWorkflow, SECRET, startService, untilDelivery } from './helpers.js';
import { serverFor, type ApiHarness } from '../support/api.js';

type Harness = Pick<ApiHarness, 'app' | 'call'>;
import type { ServiceSim } from '../support/service-sim.js';

const ADMIN = { sub: 'ops', permissions: ['admin:provisioning'] };
const SUPER = { sub: 'root', roles: ['super_admin'] };
const TENANT_ADMIN = { sub: 't-admin', tenant_id: 't1', roles: ['tenant_admin'], permissions: ['provisioning:write'] };

for (const dialect of testDialects()) {
  describe(`webhook admin API (${dialect})`, () => {
    let rt: TestRuntime;
    let h: Harness;
    let receiver: Receiver;
    let sim: ServiceSim;
    before(async () => {
      rt = await startTestRuntime(dialect, FAST_SCHEDULE);
      h = await serverFor(rt);
      receiver = await startReceiver((nth) => (nth === 1 ? 404 : 200));
      sim = await startService();
    });
    after(async () => {
      await h.app.close();
      await receiver.close();
      await sim.close();
      await rt.dispose();
    });

    it('creates a subscription (201) and never returns or stores its secret in the clear', async () => {
      const r = await h.call({
        method: 'POST',
        url: '/api/v1/admin/webhook-subscriptions',
        as: ADMIN,
        payload: {
          target_url: 'https://hooks.example.com/prov',
          secret: SECRET,
          topics: ['provisioning.workflow.*', 'provisioning.step.failed'],
        },
      });
      assert.equal(r.status, 201, r.body);
      assert.deepEqual(Object.keys(r.json.data).sort(), ['created_at', 'id', 'target_url', 'topics']);
      assert.match(r.json.data.id, /^whs_/);
      assert.deepEqual(r.json.data.topics, ['provisioning.workflow.*', 'provisioning.step.failed']);
      assert.match(r.json.meta.request_id, /^req_/);
      assert.ok(!r.body.includes(SECRET));

      const list = await h.call({ method: 'GET', url: '/api/v1/admin/webhook-subscriptions', as: SUPER });
      assert.equal(list.status, 200);
      assert.ok(list.json.data.some((s: { id: string }) => s.id === r.json.data.id));
      assert.ok(!list.body.includes(SECRET));
      const stored = await rt.store.db
        .selectFrom('webhook_subscriptions')
        .select('secret')
        .where('id', '=', r.json.data.id)
        .executeTakeFirstOrThrow();
      assert.ok(!stored.secret.includes(SECRET), 'sealed at rest');
    });

    it('answers 422 naming each bad field: a non-http URL, a short secret, no topics, an unknown topic', async () => {
      const post = (payload: Record<string, unknown>) =>
        h.call({ method: 'POST', url: '/api/v1/admin/webhook-subscriptions', as: ADMIN, payload });
      const locs = async (payload: Record<string, unknown>) => {
        const r = await post(payload);
        assert.equal(r.status, 422, r.body);
        return r.json.detail.map((d: { loc: (string | number)[] }) => d.loc.join('.'));
      };
      assert.deepEqual(await locs({ target_url: 'ftp://example.com/x', secret: SECRET, topics: ['provisioning.*'] }), ['body.target_url']);
      assert.deepEqual(await locs({ target_url: 'https://example.com/x', secret: 'short', topics: ['provisioning.*'] }), ['body.secret']);
      assert.deepEqual(await locs({ target_url: 'https://example.com/x', secret: SECRET, topics: [] }), ['body.topics']);
      assert.deepEqual(
        await locs({
          target_url: 'https://example.com/x',
          secret: SECRET,
          topics: ['provisioning.workflow.completed', 'provisioning.workflow.done', 'provisoning.*'],
        }),
        ['body.topics.1', 'body.topics.2'],
      );
    });

    it('needs admin:provisioning or super_admin (403 for a tenant admin, 401 without a token)', async () => {
      for (const [method, url] of [
        ['GET', '/api/v1/admin/webhook-subscriptions'],
        ['GET', '/api/v1/admin/webhook-deliveries'],
        ['DELETE', '/api/v1/admin/webhook-subscriptions/whs_x'],
        ['POST', '/api/v1/admin/webhook-deliveries/whd_x/redeliver'],
      ] as const) {
        assert.equal((await h.call({ method, url, as: TENANT_ADMIN })).status, 403, `${method} ${url}`);
        assert.equal((await h.call({ method, url })).status, 401, `${method} ${url}`);
      }
      const r = await h.call({
        method: 'POST',
        url: '/api/v1/admin/webhook-subscriptions',
        as: TENANT_ADMIN,
        payload: { target_url: 'https://x.example', secret: SECRET, topics: ['provisioning.*'] },
      });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'forbidden');
    });

    it('deletes a subscription (204), then answers 404 for it', async () => {
      const c = await h.call({
        method: 'POST',
        url: '/api/v1/admin/webhook-subscriptions',
        as: ADMIN,
        payload: { target_url: 'http://127.0.0.1:9/x', secret: SECRET, topics: ['provisioning.*'] },
      });
      const del = await h.call({ method: 'DELETE', url: `/api/v1/admin/webhook-subscriptions/${c.json.data.id}`, as: ADMIN });
      assert.equal(del.status, 204);
      assert.equal(del.body, '');
      const again = await h.call({ method: 'DELETE', url: `/api/v1/admin/webhook-subscriptions/${c.json.data.id}`, as: ADMIN });
      assert.equal(again.status, 404);
      assert.equal(again.json.error.code, 'not_found');
    });

    it('lists dead deliveries and redelivers one (200), which then is delivered', async () => {
      // Only this subscription may receive: remove the ones earlier tests made.
      for (const s of (await h.call({ method: 'GET', url: '/api/v1/admin/webhook-subscriptions', as: ADMIN })).json.data) {
        await h.call({ method: 'DELETE', url: `/api/v1/admin/webhook-subscriptions/${s.id}`, as: ADMIN });
      }
      const c = await h.call({
        method: 'POST',
        url: '/api/v1/admin/webhook-subscriptions',
        as: ADMIN,
        payload: { target_url: receiver.url, secret: SECRET, topics: ['provisioning.workflow.completed'] },
      });
      const subId = c.json.data.id as string;
      await runWorkflow(rt, sim, 'completed');
      const dead = await untilDelivery(rt, 'a dead delivery', (d) => d.subscription_id === subId && d.status === 'dead');

      const list = await h.call({ method: 'GET', url: `/api/v1/admin/webhook-deliveries?status=dead&subscription_id=${subId}`, as: ADMIN });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.json.data.map((d: { id: string }) => d.id),
        [dead.id],
      );
      assert.equal(list.json.data[0].last_status_code, 404);
      assert.equal(list.json.meta.count, 1);
      assert.equal(list.json.meta.next_cursor, null);
      const none = await h.call({
        method: 'GET',
        url: `/api/v1/admin/webhook-deliveries?status=delivered&subscription_id=${subId}`,
        as: ADMIN,
      });
      assert.deepEqual(none.json.data, []);
      assert.equal((await h.call({ method: 'GET', url: '/api/v1/admin/webhook-deliveries?status=lost', as: ADMIN })).status, 422);

      const re = await h.call({ method: 'POST', url: `/api/v1/admin/webhook-deliveries/${dead.id}/redeliver`, as: ADMIN });
      assert.equal(re.status, 200, re.body);
      assert.equal(re.json.data.id, dead.id);
      assert.equal(re.json.data.status, 'pending');
      await untilDelivery(rt, 'the redelivery to be delivered', (d) => d.id === dead.id && d.status === 'delivered');
      assert.equal(
        (await h.call({ method: 'POST', url: '/api/v1/admin/webhook-deliveries/whd_missing/redeliver', as: ADMIN })).status,
        404,
      );
    });

    it('pages deliveries newest first with next_cursor', async () => {
      for (let i = 0; i < 2; i++) {
        await h.call({
          method: 'POST',
          url: '/api/v1/admin/webhook-subscriptions',
          as: ADMIN,
          payload: { target_url: receiver.url, secret: SECRET, topics: ['provisioning.workflow.started'] },
        });
      }
      await runWorkflow(rt, sim, 'completed');
      // Every event fanned out, so no delivery appears between the pages read below.
      await eventually('the outbox to drain', async () => (await webhooksRepo.summary(rt.store.db)).outboxBacklog === 0);
      const all = await h.call({ method: 'GET', url: '/api/v1/admin/webhook-deliveries', as: ADMIN });
      assert.ok(all.json.data.length >= 3, `deliveries: ${all.json.data.length}`);
      const ids = all.json.data.map((d: { id: string }) => d.id) as string[];
      assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await h.call({
          method: 'GET',
          url: `/api/v1/admin/webhook-deliveries?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          as: ADMIN,
        });
        assert.equal(r.status, 200);
        assert.ok(r.json.data.length <= 2);
        seen.push(...r.json.data.map((d: { id: string }) => d.id));
        cursor = r.json.meta.next_cursor;
      } while (cursor);
      assert.deepEqual(seen, ids);
    });

    it('documents the endpoints and their component schemas in /openapi.json', async () => {
      const doc = (await h.call({ method: 'GET', url: '/openapi.json' })).json;
      for (const p of [
        '/api/v1/admin/webhook-subscriptions',
        '/api/v1/admin/webhook-subscriptions/{subscription_id}',
        '/api/v1/admin/webhook-deliveries',
        '/api/v1/admin/webhook-deliveries/{delivery_id}/redeliver',
      ]) {
        assert.ok(doc.paths[p], `path ${p}`);
      }
      for (const c of [
        'WebhookSubscriptionResponse',
        'WebhookDeliveryResponse',
        'CreateWebhookSubscriptionRequest',
        'ApiResponse_WebhookSubscriptionResponse_',
        'ApiResponse_list_WebhookDeliveryResponse__',
      ]) {
        assert.ok(doc.components.schemas[c], `component ${c}`);
      }
    });
  });
}
