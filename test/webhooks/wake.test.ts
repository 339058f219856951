import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestRuntime, testDialects, eventually, type TestRuntime } from '../support/runtime.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminOf, SECRET, unique } from './helpers.js';

/**
 * The dispatcher polls every PROVISIONER_POLL_INTERVAL_MS; here that is 60 s, so an event that
 * arrives within a few seconds was announced by the commit that wrote it, not found by a poll.
 */
const SLOW_POLL = { PROVISIONER_POLL_INTERVAL_MS: '60000' };
const SOON_MS = 5000;

for (const dialect of testDialects()) {
  describe(`webhook wake-ups (${dialect})`, () => {
    async function withSetup(fn: (rt: TestRuntime, sim: ServiceSim, receiver: Receiver) => Promise<void>) {
      const rt = await startTestRuntime(dialect, SLOW_POLL);
      const sim = await startServiceSim();
      const receiver = await startReceiver();
      try {
        await adminOf(rt).createSubscription({ targetUrl: receiver.url, secret: SECRET, topics: ['provisioning.*'], actor: 'test' });
        await fn(rt, sim, receiver);
      } finally {
        await receiver.close();
        await sim.close();
        await rt.dispose();
      }
    }
    async function start(rt: TestRuntime, sim: ServiceSim, provision: unknown[]): Promise<string> {
      const slug = unique('wake');
      await rt.registry.register({ slug, name: 'Wake', version: '1.0.0', base_url: sim.url, provision });
      return (
        await rt.starter.start({
          tenantId: unique('tenant'),
          serviceSlug: slug,
          kind: 'provision',
          parameters: {},
          idempotencyKey: null,
          actor: 'test',
        })
      ).workflowId;
    }
    const eventOf = (receiver: Receiver, type: string, workflowId: string) =>
      receiver.waitFor(
        (h) => h.json.event_type === type && (h.json.data as { workflow: { id: string } }).workflow.id === workflowId,
        SOON_MS,
      );

    it('delivers workflow.completed at once after the step that completed the workflow commits, not at the next poll', () =>
      withSetup(async (rt, sim, receiver) => {
        // The answer takes a moment, so the started event has long been delivered and the dispatcher is asleep.
        sim.route('POST', '/accounts', { status: 201, json: { id: 'acc_1' }, delayMs: 300 });
        const id = await start(rt, sim, [{ name: 'create_account', type: 'http', request: { path: '/accounts' } }]);
        await eventOf(receiver, 'provisioning.workflow.started', id);
        await eventOf(receiver, 'provisioning.workflow.completed', id);
      }));

    it("delivers an operator cancel's event at once", () =>
      withSetup(async (rt, sim, receiver) => {
        sim.route('POST', '/buckets', { status: 202, json: {} });
        const id = await start(rt, sim, [
          {
            name: 'create_bucket',
            type: 'callback',
            request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
            wait: { timeout_s: 600 },
          },
        ]);
        await eventually(
          'the step to wait for its callback',
          async () => (await rt.queries.detail(id, null)).steps[0].status === 'waiting_callback',
        );
        await eventOf(receiver, 'provisioning.workflow.started', id);
        await rt.admin.cancel(id, false, { actor: 'ops', reason: 'wake test' });
        await eventOf(receiver, 'provisioning.workflow.cancelled', id);
      }));

    it('delivers the events of a failed callback at once', () =>
      withSetup(async (rt, sim, receiver) => {
        const token = new Promise<string>((resolve) =>
          sim.route('POST', '/buckets', (req) => {
            resolve((req.body as { callback_token: string }).callback_token);
            return { status: 202, json: {} };
          }),
        );
        const id = await start(rt, sim, [
          {
            name: 'create_bucket',
            type: 'callback',
            request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
            wait: { timeout_s: 600 },
          },
        ]);
        await eventually(
          'the step to wait for its callback',
          async () => (await rt.queries.detail(id, null)).steps[0].status === 'waiting_callback',
        );
        await eventOf(receiver, 'provisioning.workflow.started', id);
        const r = await rt.callbacks.receive(await token, { status: 'failed', error: 'quota exceeded' });
        assert.equal(r.step_status, 'failed');
        await eventOf(receiver, 'provisioning.step.failed', id);
        await eventOf(receiver, 'provisioning.workflow.failed', id);
      }));
  });
}
