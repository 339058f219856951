import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startTestRuntime, testDialects, eventually, TEST_JWT_SECRET, TEST_SECRET_KEY } from '../support/runtime.js';
import { startReceiver } from './receiver.js';
import { adminOf, SECRET, startService, unique, untilDelivery } from './helpers.js';
import { createWebhookDispatcher } from '../../src/engine/webhook-dispatcher.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/dispatch-until-killed.ts', import.meta.url));

for (const dialect of testDialects()) {
  describe(`webhook delivery across a crash (${dialect})`, () => {
    it("delivers an event whose process was SIGKILLed mid-delivery, once that process's lease expires", async () => {
      // This process only registers, subscribes and starts; the child runs the executor and dispatcher.
      const rt = await startTestRuntime(dialect, {}, { executor: false, webhooks: false });
      let hang = true;
      const receiver = await startReceiver(() => (hang ? 'hang' : 200));
      const sim = await startService();
      const db = rt.config.database;
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
        env: {
          ...process.env,
          DATABASE_URL: db.kind === 'sqlite' ? `sqlite:${db.path}` : db.url,
          PROVISIONER_JWT_SECRET: TEST_JWT_SECRET,
          PROVISIONER_SECRET_KEY: TEST_SECRET_KEY,
          PROVISIONER_DATA_DIR: rt.config.dataDir,
          PROVISIONER_POLL_INTERVAL_MS: '50',
          PROVISIONER_LEASE_GRACE_MS: '300',
          FIXTURE_FETCH_TIMEOUT_MS: '1000',
          PROVISIONER_WEBHOOK_RETRY_SCHEDULE: '0.05',
          LOG_LEVEL: 'silent',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      try {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
        });
        await eventually('the child to start', async () => out.includes('ready'), 60_000);

        await adminOf(rt).createSubscription({
          targetUrl: receiver.url,
          secret: SECRET,
          topics: ['provisioning.workflow.completed'],
          actor: 'test',
        });
        const slug = unique('svc');
        await rt.registry.register({
          slug,
          name: 'Crash test service',
          version: '1.0.0',
          base_url: sim.url,
          provision: [{ name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts' } }],
        });
        const { workflowId } = await rt.starter.start({
          tenantId: unique('tenant'),
          serviceSlug: slug,
          kind: 'provision',
          parameters: {},
          idempotencyKey: null,
          actor: 'test',
        });

        // The child committed the state change and is in the middle of the POST: kill it there.
        const first = await receiver.waitFor((h) => h.json.event_type === 'provisioning.workflow.completed', 15_000);
        child.kill('SIGKILL');
        const [, signal] = await exited;
        assert.equal(signal, 'SIGKILL');
        assert.equal((await rt.queries.detail(workflowId, null)).status, 'completed', 'the state change was committed before the kill');
        const inFlight = await untilDelivery(rt, 'the in-flight delivery', () => true);
        assert.equal(inFlight.status, 'pending', 'the killed attempt was never recorded');
        assert.equal(inFlight.attempts, 0);

        // A dispatcher of a restarted process takes the delivery over once the dead one's lease expires.
        hang = false;
        const restarted = createWebhookDispatcher({
          store: rt.store,
          cipher: rt.cipher,
          log: rt.log,
          retryScheduleS: [0.05],
          pollIntervalMs: 50,
        });
        restarted.start();
        try {
          const done = await untilDelivery(rt, 'the delivery to be delivered after the crash', (d) => d.status === 'delivered', 10_000);
          assert.equal(done.id, inFlight.id);
          assert.equal(done.attempts, 1);
          const deliveredTwice = receiver.received.filter((h) => h.json.event_id === first.json.event_id);
          assert.equal(deliveredTwice.length, 2, 'at least once: the receiver saw the event again and deduplicates on its id');
        } finally {
          await restarted.stop(200);
        }
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await receiver.close();
        await sim.close();
        await rt.dispose();
      }
    });
  });
}
