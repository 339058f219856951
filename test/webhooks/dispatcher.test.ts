import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestRuntime, testDialects, eventually, type TestRuntime } from '../support/runtime.js';
import { startReceiver } from './receiver.js';
import { adminOf, FAST_SCHEDULE, PASSWORD, runWorkflow, SECRET, signatureValid, startService, untilDelivery } from './helpers.js';
import { createWebhookDispatcher } from '../../src/engine/webhook-dispatcher.js';
import { webhooksRepo } from '../../src/store/webhooks-repo.js';

for (const dialect of testDialects()) {
  describe(`webhook delivery (${dialect})`, () => {
    async function withRuntime(opts: { webhooks?: boolean }, fn: (rt: TestRuntime) => Promise<void>) {
      const rt = await startTestRuntime(dialect, FAST_SCHEDULE, opts);
      try {
        await fn(rt);
      } finally {
        await rt.dispose();
      }
    }

    it('retries after a 500 and delivers on the second attempt, signed over "<timestamp>.<raw body>"', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver((nth) => (nth === 1 ? 500 : 200));
        const sim = await startService();
        try {
          const sub = await adminOf(rt).createSubscription({
            targetUrl: receiver.url,
            secret: SECRET,
            topics: ['provisioning.workflow.completed'],
            actor: 'test',
          });
          const { workflowId, slug } = await runWorkflow(rt, sim, 'completed');
          const d = await untilDelivery(
            rt,
            'the delivery to be delivered',
            (x) => x.subscription_id === sub.id && x.status === 'delivered',
          );
          assert.equal(d.attempts, 2);
          assert.equal(d.last_status_code, 200);
          assert.equal(d.last_error, null);
          assert.equal(receiver.received.length, 2, 'one failed attempt, one delivered');

          const hook = receiver.received[1];
          assert.equal(hook.json.event_id, receiver.received[0].json.event_id, 'the retry carries the same event');
          assert.equal(hook.headers['content-type'], 'application/json');
          assert.equal(hook.headers['x-provisioner-event-id'], hook.json.event_id);
          assert.equal(hook.headers['x-provisioner-event-type'], 'provisioning.workflow.completed');
          const ts = hook.headers['x-provisioner-timestamp'];
          assert.match(ts, /^\d+$/);
          assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, 'timestamp is unix seconds, now');
          assert.ok(signatureValid(SECRET, ts, hook.raw, hook.headers['x-provisioner-signature']), 'signature verifies with the secret');
          assert.ok(!signatureValid('another-secret-0123456789', ts, hook.raw, hook.headers['x-provisioner-signature']));

          const body = hook.json as unknown as Record<string, unknown> & { data: { workflow: Record<string, unknown>; step?: unknown } };
          assert.deepEqual(Object.keys(body).sort(), [
            'data',
            'event_id',
            'event_type',
            'event_version',
            'idempotency_key',
            'occurred_at',
            'source',
          ]);
          assert.equal(body.event_type, 'provisioning.workflow.completed');
          assert.equal(body.event_version, '1.0');
          assert.equal(body.source, 'provisioner');
          assert.match(body.event_id as string, /^evt_/);
          assert.ok(!Number.isNaN(Date.parse(body.occurred_at as string)));
          assert.equal(typeof body.idempotency_key, 'string');
          assert.equal(body.data.workflow.id, workflowId);
          assert.equal(body.data.workflow.service_slug, slug);
          assert.equal(body.data.workflow.status, 'completed');
          assert.equal(body.data.workflow.has_credentials, true);
          assert.ok(!('credentials' in body.data.workflow), 'no credentials in the workflow');
          assert.ok(!hook.raw.toString('utf8').includes(PASSWORD), 'the secret value appears nowhere in the body');
        } finally {
          await receiver.close();
          await sim.close();
        }
      }));

    it('marks a delivery dead on a 4xx, lists it as dead, and delivers it when redelivered', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver((nth) => (nth === 1 ? 410 : 200));
        const sim = await startService();
        const admin = adminOf(rt);
        try {
          const sub = await admin.createSubscription({
            targetUrl: receiver.url,
            secret: SECRET,
            topics: ['provisioning.workflow.completed'],
            actor: 'test',
          });
          await runWorkflow(rt, sim, 'completed');
          const dead = await untilDelivery(rt, 'the delivery to be dead', (x) => x.status === 'dead');
          assert.equal(dead.attempts, 1, 'a 4xx is not retried');
          assert.equal(dead.last_status_code, 410);
          assert.match(dead.last_error ?? '', /^HTTP 410/);
          assert.deepEqual(
            (await admin.listDeliveries({ status: 'dead', limit: 10 })).items.map((x) => x.id),
            [dead.id],
          );
          assert.deepEqual((await admin.listDeliveries({ status: 'dead', subscriptionId: 'whs_none', limit: 10 })).items, []);
          assert.deepEqual(
            (await admin.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items.map((x) => x.id),
            [dead.id],
          );

          const again = await admin.redeliver(dead.id);
          assert.equal(again.status, 'pending');
          const done = await untilDelivery(rt, 'the redelivery to be delivered', (x) => x.id === dead.id && x.status === 'delivered');
          assert.equal(done.attempts, 1, 'the redelivery starts a fresh schedule');
          assert.equal(receiver.received.length, 2);
          assert.equal(receiver.received[0].json.event_id, receiver.received[1].json.event_id);
          await assert.rejects(admin.redeliver('whd_unknown'), { code: 'not_found' });
        } finally {
          await receiver.close();
          await sim.close();
        }
      }));

    it('gives up after the last entry of the retry schedule and marks the delivery dead', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver(() => 503);
        const sim = await startService();
        try {
          await adminOf(rt).createSubscription({
            targetUrl: receiver.url,
            secret: SECRET,
            topics: ['provisioning.workflow.completed'],
            actor: 'test',
          });
          await runWorkflow(rt, sim, 'completed');
          const dead = await untilDelivery(rt, 'the delivery to be dead', (x) => x.status === 'dead');
          assert.equal(dead.attempts, 3, 'the first attempt plus one per schedule entry (0.05, 0.05)');
          assert.match(dead.last_error ?? '', /HTTP 503.*gave up after 3 attempts/);
          assert.equal(receiver.received.length, 3);
        } finally {
          await receiver.close();
          await sim.close();
        }
      }));

    it('retries when the receiver refuses the connection', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver();
        const url = receiver.url;
        await receiver.close(); // nothing listens on this port any more
        const sim = await startService();
        try {
          await adminOf(rt).createSubscription({
            targetUrl: url,
            secret: SECRET,
            topics: ['provisioning.workflow.completed'],
            actor: 'test',
          });
          await runWorkflow(rt, sim, 'completed');
          const dead = await untilDelivery(rt, 'the delivery to be dead', (x) => x.status === 'dead');
          assert.equal(dead.attempts, 3);
          assert.equal(dead.last_status_code, null);
          assert.match(dead.last_error ?? '', /ECONNREFUSED/);
        } finally {
          await sim.close();
        }
      }));

    it('routes each event to the subscriptions whose exact topic or prefix glob matches it', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver();
        const sim = await startService(400); // the step fails for good: step.failed, workflow.failed, rolled_back
        const admin = adminOf(rt);
        try {
          const subs = {
            all: ['provisioning.*'],
            workflow: ['provisioning.workflow.*'],
            step: ['provisioning.step.*'],
            exact: ['provisioning.workflow.started'],
            two: ['provisioning.workflow.started', 'provisioning.step.failed'],
          };
          for (const [name, topics] of Object.entries(subs)) {
            await admin.createSubscription({ targetUrl: `${receiver.url}/${name}`, secret: SECRET, topics, actor: 'test' });
          }
          await runWorkflow(rt, sim, 'rolled_back');
          const topics = (await rt.store.db.selectFrom('outbox').select('topic').orderBy('id').execute()).map((r) => r.topic);
          assert.ok(
            topics.includes('provisioning.step.failed') && topics.includes('provisioning.workflow.started'),
            `emitted: ${topics.join(', ')}`,
          );
          const expected: Record<string, string[]> = {
            all: topics,
            workflow: topics.filter((t) => t.startsWith('provisioning.workflow.')),
            step: topics.filter((t) => t.startsWith('provisioning.step.')),
            exact: ['provisioning.workflow.started'],
            two: topics.filter((t) => t === 'provisioning.workflow.started' || t === 'provisioning.step.failed'),
          };
          const total = Object.values(expected).reduce((n, l) => n + l.length, 0);
          await eventually(`${total} webhooks`, async () => receiver.received.length >= total);
          await eventually(
            'deliveries to settle',
            async () => (await admin.listDeliveries({ status: 'pending', limit: 10 })).items.length === 0,
          );
          for (const [name, want] of Object.entries(expected)) {
            const got = receiver.received.filter((h) => h.path === `/hooks/${name}`).map((h) => h.json.event_type);
            assert.deepEqual([...got].sort(), [...want].sort(), `subscription ${name}`);
          }
        } finally {
          await receiver.close();
          await sim.close();
        }
      }));

    it('loses no event when no dispatcher runs at commit time: one started later fans out and delivers it', () =>
      withRuntime({ webhooks: false }, async (rt) => {
        assert.equal(rt.webhooks, null);
        const receiver = await startReceiver();
        const sim = await startService();
        try {
          await adminOf(rt).createSubscription({
            targetUrl: receiver.url,
            secret: SECRET,
            topics: ['provisioning.workflow.*'],
            actor: 'test',
          });
          const { workflowId } = await runWorkflow(rt, sim, 'completed');
          assert.equal(receiver.received.length, 0);
          assert.equal((await webhooksRepo.summary(rt.store.db)).outboxBacklog, 2, 'started and completed wait in the outbox');

          // As a restarted process would: a fresh dispatcher on the same database.
          const dispatcher = createWebhookDispatcher({
            store: rt.store,
            cipher: rt.cipher,
            log: rt.log,
            retryScheduleS: [0.05],
            pollIntervalMs: 50,
          });
          dispatcher.start();
          try {
            await eventually('both events delivered', async () => receiver.received.length === 2);
            assert.deepEqual(
              receiver.received.map((h) => h.json.event_type),
              ['provisioning.workflow.started', 'provisioning.workflow.completed'],
            );
            assert.ok(receiver.received.every((h) => (h.json.data as { workflow: { id: string } }).workflow.id === workflowId));
            assert.equal((await webhooksRepo.summary(rt.store.db)).outboxBacklog, 0);
          } finally {
            await dispatcher.stop(200);
          }
        } finally {
          await receiver.close();
          await sim.close();
        }
      }));

    it('fans each event out once even with two dispatchers on one database', () =>
      withRuntime({}, async (rt) => {
        const receiver = await startReceiver();
        const sim = await startService();
        const second = createWebhookDispatcher({
          store: rt.store,
          cipher: rt.cipher,
          log: rt.log,
          retryScheduleS: [0.05],
          pollIntervalMs: 10,
        });
        second.start();
        try {
          await adminOf(rt).createSubscription({ targetUrl: receiver.url, secret: SECRET, topics: ['provisioning.*'], actor: 'test' });
          for (let i = 0; i < 3; i++) await runWorkflow(rt, sim, 'completed');
          await eventually('six webhooks', async () => receiver.received.length >= 6);
          await eventually(
            'deliveries to settle',
            async () => (await adminOf(rt).listDeliveries({ status: 'pending', limit: 10 })).items.length === 0,
          );
          const ids = receiver.received.map((h) => h.json.event_id);
          assert.equal(ids.length, 6);
          assert.equal(new Set(ids).size, 6, 'no event delivered twice');
        } finally {
          await second.stop(200);
          await receiver.close();
          await sim.close();
        }
      }));
  });
}
