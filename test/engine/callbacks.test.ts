import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, Gone, NotFound } from '../../src/domain/errors.js';
import { stepsRepo } from '../../src/store/steps-repo.js';
import { testDialects } from '../support/runtime.js';
import {
  eventsOf,
  manifestFor,
  registerAndStart,
  sharedRuntime,
  simFor,
  stepOf,
  tokenOf,
  untilStep,
  untilWorkflow,
} from '../support/engine.js';
import type { ServiceSim } from '../support/service-sim.js';

/** One callback step that asks the service to call back. */
function callbackManifest(sim: ServiceSim, wait: Record<string, number>, extra: Record<string, unknown> = {}) {
  sim.route('POST', '/buckets', { status: 202 });
  return manifestFor(
    sim,
    [
      {
        name: 'create_bucket',
        type: 'callback',
        request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
        wait,
      },
    ],
    extra,
  );
}

const isCode = (cls: typeof Conflict | typeof Gone | typeof NotFound, msg?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
  if (msg) assert.match((e as Error).message, msg);
  return true;
};

for (const dialect of testDialects()) {
  describe(`callbacks (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('fails a wait that reaches its deadline with "timed out waiting for callback", and answers a later callback Gone', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 0.3 }, { on_failure: 'hold' }));
      const req = await sim.waitFor((r) => r.path === '/buckets');

      const d = await untilWorkflow(rt, workflowId, 'failed');
      const step = stepOf(d, 'create_bucket');
      assert.equal(step.status, 'failed');
      assert.equal(step.error, 'timed out waiting for callback');
      assert.ok(Date.parse(step.completed_at as string) >= Date.parse(step.started_at as string) + 300, 'failed before its deadline');
      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'completed' }), isCode(Gone, /expired/));
    });

    it('answers Gone to a callback that arrives after the deadline even before the executor has expired the wait', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 30 }, { on_failure: 'hold' }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      // The deadline has passed but no worker has got round to expiring the wait (next_run_at still ahead).
      const [row] = await stepsRepo.listForWorkflow(rt.store.db, workflowId);
      await stepsRepo.update(rt.store.db, row.id, { deadline_at: Date.now() - 1, next_run_at: Date.now() + 60_000 });

      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'completed' }), isCode(Gone, /expired/));
      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'in_progress' }), isCode(Gone));
      assert.equal(stepOf(await rt.queries.detail(workflowId, null), 'create_bucket').status, 'waiting_callback');
    });

    it('extends the deadline on an in_progress heartbeat and records its metadata as progress', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 1, heartbeat_s: 1.5 }, { on_failure: 'hold' }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      const before = stepOf(await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback'), 'create_bucket');

      const sentAt = Date.now();
      const res = await rt.callbacks.receive(tokenOf(req), { status: 'in_progress', metadata: { pct: 40 } });
      assert.deepEqual(res, { workflow_id: workflowId, step_name: 'create_bucket', step_status: 'waiting_callback', duplicate: false });
      const after = stepOf(await rt.queries.detail(workflowId, null), 'create_bucket');
      assert.deepEqual(after.progress, { pct: 40 });
      assert.ok(Date.parse(after.deadline_at as string) >= sentAt + 1500, 'the deadline moved to heartbeat_s from now');
      assert.ok(Date.parse(after.deadline_at as string) > Date.parse(before.deadline_at as string));

      // The old deadline passes without effect; the step only times out at the extended one.
      const d = await untilWorkflow(rt, workflowId, 'failed', 5000);
      assert.ok(Date.parse(stepOf(d, 'create_bucket').completed_at as string) >= sentAt + 1500);
      assert.ok((await eventsOf(rt, workflowId)).some((e) => e.type === 'step.heartbeat'));
    });

    it('answers an identical repeat of an accepted final callback with duplicate: true and changes nothing', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 5 }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      const report = { status: 'completed' as const, endpoint: 'https://b.example', metadata: { a: 1, b: 2 } };

      assert.equal((await rt.callbacks.receive(tokenOf(req), report)).duplicate, false);
      const done = await untilWorkflow(rt, workflowId, 'completed');
      const eventsBefore = await eventsOf(rt, workflowId);
      // Same report, keys in another order.
      const again = await rt.callbacks.receive(tokenOf(req), {
        status: 'completed',
        metadata: { b: 2, a: 1 },
        endpoint: 'https://b.example',
      });
      assert.deepEqual(again, { workflow_id: workflowId, step_name: 'create_bucket', step_status: 'completed', duplicate: true });
      const after = await rt.queries.detail(workflowId, null);
      assert.deepEqual(after, done, 'not even updated_at moves');
      assert.deepEqual(await eventsOf(rt, workflowId), eventsBefore);
    });

    it('answers Conflict to a final callback that differs from the accepted one', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 5 }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await rt.callbacks.receive(tokenOf(req), { status: 'completed', metadata: { n: 1 } });
      await untilWorkflow(rt, workflowId, 'completed');

      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'failed', error: 'oops' }), isCode(Conflict, /already completed/));
      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'completed', metadata: { n: 2 } }), isCode(Conflict));
      assert.deepEqual(stepOf(await rt.queries.detail(workflowId, null), 'create_bucket').output, { n: 1 });
    });

    it('accepts a callback that arrives before the request that started the wait has returned, and completes the step', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      let storedDuringRequest = '';
      let duplicateDuringRequest: boolean | null = null;
      const m = manifestFor(sim, [
        {
          name: 'create_bucket',
          type: 'callback',
          request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 5 },
        },
      ]);
      sim.route('POST', '/buckets', async (req) => {
        const report = {
          status: 'completed' as const,
          endpoint: 'https://early.example',
          credentials: { key: 'early-secret-3f9a' },
          metadata: { bucket: 'early' },
        };
        const first = await rt.callbacks.receive(tokenOf(req), report);
        assert.equal(first.step_status, 'running');
        duplicateDuringRequest = (await rt.callbacks.receive(tokenOf(req), report)).duplicate;
        storedDuringRequest = JSON.stringify(await rt.store.db.selectFrom('steps').selectAll().execute());
        return { status: 202, delayMs: 50 };
      });
      const { workflowId, tenantId, slug } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(stepOf(d, 'create_bucket').output, { bucket: 'early' });
      assert.equal(d.endpoint, 'https://early.example');
      assert.equal(duplicateDuringRequest, true, 'a repeat of the early callback is a duplicate');
      assert.ok(storedDuringRequest.includes('early.example'), 'the early report was kept');
      assert.ok(!storedDuringRequest.includes('early-secret-3f9a'), 'the early report keeps credentials in plaintext');
      assert.deepEqual((await rt.queries.revealCredentials(tenantId, slug, 'test')).credentials, { key: 'early-secret-3f9a' });
    });

    it('answers NotFound to a garbage or unknown token', async () => {
      const { rt } = env;
      await assert.rejects(rt.callbacks.receive('not-a-token', { status: 'completed' }), isCode(NotFound));
      await assert.rejects(rt.callbacks.receive('', { status: 'completed' }), isCode(NotFound));
      await assert.rejects(rt.callbacks.receive(`cbt_${'A'.repeat(43)}`, { status: 'completed' }), isCode(NotFound));
    });

    it('answers Conflict to a callback for a step that was cancelled', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 5 }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await rt.admin.cancel(workflowId, false, { actor: 'ops', reason: 'test' });

      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'completed' }), isCode(Conflict, /cancelled/));
      await assert.rejects(rt.callbacks.receive(tokenOf(req), { status: 'in_progress' }), isCode(Conflict));
    });

    it('still recognises a repeat of the accepted callback as a duplicate after the step was compensated', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/buckets', { status: 202 });
      sim.route('DELETE', '/buckets', { status: 204 });
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [
        {
          name: 'create_bucket',
          type: 'callback',
          request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 5 },
          compensate: { method: 'DELETE', path: '/buckets' },
        },
        { name: 'then_fail', type: 'http', depends_on: ['create_bucket'], request: { path: '/fail' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await rt.callbacks.receive(tokenOf(req), { status: 'completed' });
      await untilWorkflow(rt, workflowId, 'rolled_back');

      const again = await rt.callbacks.receive(tokenOf(req), { status: 'completed' });
      assert.equal(again.duplicate, true);
      assert.equal(again.step_status, 'compensated');
    });

    it("keeps the same callback token across a step's retries, so a callback to a re-sent request is accepted", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const tokens: string[] = [];
      sim.route('POST', '/buckets', async (req, nth) => {
        tokens.push(tokenOf(req));
        // The first wait is left to expire; the re-sent request is answered by a callback at once.
        if (nth === 2) await rt.callbacks.receive(tokenOf(req), { status: 'completed', metadata: { try: 2 } });
        return { status: 202 };
      });
      const m = manifestFor(sim, [
        {
          name: 'create_bucket',
          type: 'callback',
          retry: { max_attempts: 2, initial_s: 0.05, on_wait_timeout: true },
          request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 0.2 },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(stepOf(d, 'create_bucket').output, { try: 2 });
      assert.deepEqual(
        sim.calls('POST', '/buckets').map((r) => r.headers['idempotency-key']),
        [`${workflowId}:create_bucket:1`, `${workflowId}:create_bucket:2`],
      );
      assert.equal(tokens.length, 2);
      assert.equal(tokens[1], tokens[0]);
    });

    it('after a reported failure and an operator retry, sends the request again with a new token; the old token stops working', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = callbackManifest(sim, { timeout_s: 5 }, { on_failure: 'hold' });
      const { workflowId } = await registerAndStart(rt, m);
      const first = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await rt.callbacks.receive(tokenOf(first), { status: 'failed', error: 'disk full' });
      const failed = await untilWorkflow(rt, workflowId, 'failed');
      assert.equal(stepOf(failed, 'create_bucket').error, 'the service reported failure: disk full');
      assert.equal((await rt.callbacks.receive(tokenOf(first), { status: 'failed', error: 'disk full' })).duplicate, true);

      await rt.admin.retryStep(workflowId, 'create_bucket', { actor: 'ops', reason: 'disk freed' });
      const again = await sim.waitFor((r) => r.path === '/buckets' && r !== first);
      assert.notEqual(tokenOf(again), tokenOf(first), 'an operator retry issues a new callback token');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await assert.rejects(rt.callbacks.receive(tokenOf(first), { status: 'completed' }), NotFound, 'the old token stopped working');
      await rt.callbacks.receive(tokenOf(again), { status: 'completed' });
      await untilWorkflow(rt, workflowId, 'completed');
    });

    it('makes exactly one transition when the same final callback arrives several times at once', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const { workflowId } = await registerAndStart(rt, callbackManifest(sim, { timeout_s: 5 }));
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');

      const results = await Promise.all(
        Array.from({ length: 5 }, () => rt.callbacks.receive(tokenOf(req), { status: 'completed', metadata: { n: 1 } })),
      );
      assert.deepEqual(results.map((r) => r.duplicate).sort(), [false, true, true, true, true]);
      await untilWorkflow(rt, workflowId, 'completed');
      assert.equal((await eventsOf(rt, workflowId)).filter((e) => e.type === 'step.completed').length, 1);

      const { workflowId: other } = await registerAndStart(rt, { ...callbackManifest(sim, { timeout_s: 5 }) });
      const req2 = await sim.waitFor((r) => r.path === '/buckets' && r.headers['x-provisioner-workflow'] === other);
      await untilStep(rt, other, 'create_bucket', 'waiting_callback');
      const raced = await Promise.allSettled([
        rt.callbacks.receive(tokenOf(req2), { status: 'completed' }),
        rt.callbacks.receive(tokenOf(req2), { status: 'failed', error: 'no' }),
      ]);
      assert.equal(raced.filter((r) => r.status === 'fulfilled').length, 1, 'conflicting callbacks: one wins');
      const lost = raced.find((r) => r.status === 'rejected');
      assert.ok(lost?.status === 'rejected' && lost.reason instanceof Conflict, String(lost?.status === 'rejected' ? lost.reason : ''));
    });

    it("hands a callback's result to the step that depends on it without reading the workflow again", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc-1' } });
      sim.route('POST', '/buckets', { status: 202 });
      sim.route('POST', '/keys', { json: {} });
      const m = manifestFor(sim, [
        { name: 'create_account', type: 'http', request: { path: '/accounts' } },
        {
          name: 'create_bucket',
          type: 'callback',
          depends_on: ['create_account'],
          request: { path: '/buckets', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 30 },
        },
        {
          name: 'issue_keys',
          type: 'http',
          depends_on: ['create_bucket'],
          request: {
            path: '/keys',
            body: { account: '{{steps.create_account.output.id}}', bucket: '{{steps.create_bucket.output.bucket}}' },
          },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const req = await sim.waitFor((r) => r.path === '/buckets' && r.headers['x-provisioner-workflow'] === workflowId);
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');

      // Counts the executor's reads of this workflow's run context (its row and its steps' results) from here on.
      const hot = rt.store.dialect.hot;
      const read = hot.runContext;
      let reads = 0;
      hot.runContext = (ids) => {
        if (ids.includes(workflowId)) reads++;
        return read(ids);
      };
      t.after(() => {
        hot.runContext = read;
      });

      await rt.callbacks.receive(tokenOf(req), { status: 'completed', metadata: { bucket: 'b-9' } });
      await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(sim.calls('POST', '/keys').find((r) => r.headers['x-provisioner-workflow'] === workflowId)?.body, {
        account: 'acc-1',
        bucket: 'b-9',
      });
      assert.equal(reads, 0, 'the workflow and the results were already in memory');
    });
  });
}
