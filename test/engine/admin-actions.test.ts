import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, NotFound } from '../../src/domain/errors.js';
import { eventually, testDialects } from '../support/runtime.js';
import {
  eventsOf,
  manifestFor,
  registerAndStart,
  sharedRuntime,
  simFor,
  stepOf,
  tokenOf,
  untilDetail,
  untilStep,
  untilWorkflow,
} from '../support/engine.js';

const ops = { actor: 'ops@example.com', reason: 'test repair' };
const hold = { on_failure: 'hold' };

for (const dialect of testDialects()) {
  describe(`hold and retry-step (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('under hold lets steps under way finish, starts nothing new, and fails the workflow once nothing is in flight', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc' } });
      sim.route('POST', '/buckets', (_r, nth) => (nth === 1 ? { status: 400, json: { error: 'region full' } } : { json: { id: 'b' } }));
      let whileIndexRuns: string[] = [];
      // Answers only after bucket has failed, so index is surely under way when it does.
      sim.route('POST', '/indexes', async (req) => {
        const d = await untilStep(rt, req.headers['x-provisioner-workflow'], 'bucket', 'failed');
        whileIndexRuns = [d.status, stepOf(d, 'index').status];
        return { json: { id: 'ix' } };
      });
      sim.route('POST', '/dns', { json: { id: 'dns' } });
      const m = manifestFor(
        sim,
        [
          { name: 'account', type: 'http', request: { path: '/accounts' } },
          { name: 'bucket', type: 'http', depends_on: ['account'], request: { path: '/buckets' } },
          { name: 'index', type: 'http', depends_on: ['account'], request: { path: '/indexes' } },
          { name: 'dns', type: 'http', depends_on: ['index'], request: { path: '/dns' } },
        ],
        hold,
      );
      const { workflowId } = await registerAndStart(rt, m);

      const failed = await untilWorkflow(rt, workflowId, 'failed');
      assert.deepEqual(whileIndexRuns, ['running', 'running'], 'the workflow is not failed while index is still running');
      assert.equal(stepOf(failed, 'index').status, 'completed');
      assert.equal(stepOf(failed, 'dns').status, 'pending');
      assert.equal(stepOf(failed, 'dns').next_run_at, null);
      assert.equal(sim.calls('POST', '/dns').length, 0);
      assert.match(failed.error ?? '', /step bucket failed: POST \/buckets answered 400/);

      await rt.admin.retryStep(workflowId, 'bucket', ops);
      const resumed = await rt.queries.detail(workflowId, null);
      assert.equal(resumed.status, 'running');
      assert.equal(stepOf(resumed, 'bucket').retry_count, 1);
      const done = await untilWorkflow(rt, workflowId, 'completed');
      assert.equal(stepOf(done, 'dns').status, 'completed');
      assert.equal(done.error, null);
      assert.deepEqual(
        sim.calls('POST', '/buckets').map((r) => r.headers['idempotency-key']),
        [`${workflowId}:bucket:1`, `${workflowId}:bucket:2`],
      );
      const events = await eventsOf(rt, workflowId);
      const retry = events.find((e) => e.type === 'admin.retry_step');
      assert.deepEqual([retry?.step_name, retry?.actor, retry?.reason], ['bucket', ops.actor, ops.reason]);
    });

    it('refuses retry-step of a step that has not failed, and of an unknown step', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/ok', { json: {} });
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(
        sim,
        [
          { name: 'good', type: 'http', request: { path: '/ok' } },
          { name: 'bad', type: 'http', depends_on: ['good'], request: { path: '/fail' } },
        ],
        hold,
      );
      const { workflowId } = await registerAndStart(rt, m);
      await untilWorkflow(rt, workflowId, 'failed');

      await assert.rejects(
        rt.admin.retryStep(workflowId, 'good', ops),
        (e: unknown) => e instanceof Conflict && /good is completed; retry-step only applies to failed steps/.test(e.message),
      );
      await assert.rejects(rt.admin.retryStep(workflowId, 'nope', ops), NotFound);
      await assert.rejects(rt.admin.retryStep('wf_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'bad', ops), NotFound);
      assert.equal((await rt.queries.detail(workflowId, null)).status, 'failed');
    });

    it('refuses retry-step while another workflow of the tenant and service is active, naming the way out', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/fail', { status: 400 });
      sim.route('POST', '/wait', { status: 202 });
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/fail' } }], hold);
      const first = await registerAndStart(rt, m);
      await untilWorkflow(rt, first.workflowId, 'failed');
      const second = await rt.starter.start({
        tenantId: first.tenantId,
        serviceSlug: m.slug,
        kind: 'provision',
        parameters: {},
        idempotencyKey: null,
        actor: 'test',
      });
      assert.notEqual(second.workflowId, first.workflowId);

      await assert.rejects(rt.admin.retryStep(first.workflowId, 'only', ops), Conflict);
      assert.equal((await rt.queries.detail(first.workflowId, null)).status, 'failed');
    });
  });

  describe(`hold with one worker slot (${dialect})`, () => {
    const env = sharedRuntime(dialect, { PROVISIONER_WORKER_CONCURRENCY: '1' });

    it('under hold does not start a step that was queued but not yet running when another step failed', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/first', (_r, nth) => (nth === 1 ? { status: 400 } : { json: {} }));
      sim.route('POST', '/second', { json: {} });
      const m = manifestFor(
        sim,
        [
          { name: 'first', type: 'http', request: { path: '/first' } },
          { name: 'second', type: 'http', request: { path: '/second' } },
        ],
        hold,
      );
      const { workflowId } = await registerAndStart(rt, m);

      const failed = await untilWorkflow(rt, workflowId, 'failed');
      assert.equal(stepOf(failed, 'second').status, 'pending');
      assert.equal(sim.calls('POST', '/second').length, 0);
      assert.match(stepOf(failed, 'second').waiting_reason ?? '', /not started/);

      await rt.admin.retryStep(workflowId, 'first', ops);
      const resumed = await rt.queries.detail(workflowId, null);
      assert.ok(
        stepOf(resumed, 'second').status !== 'pending' || stepOf(resumed, 'second').next_run_at !== null,
        'second is queued again at once',
      );
      await untilWorkflow(rt, workflowId, 'completed');
      assert.equal(sim.calls('POST', '/second').length, 1);
    });
  });

  describe(`force-complete and cancel (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('force-complete skips every unfinished step, including one in flight, and completes the workflow', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/wait', { status: 202 });
      let release: () => void = () => undefined;
      const released = new Promise<void>((r) => {
        release = r;
      });
      sim.route('POST', '/slow', async () => {
        await released;
        return { json: { id: 'slow' } };
      });
      const m = manifestFor(sim, [
        {
          name: 'waits',
          type: 'callback',
          request: { path: '/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
        { name: 'slow', type: 'http', request: { path: '/slow' } },
        { name: 'after', type: 'http', depends_on: ['waits'], request: { path: '/after' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      await untilDetail(
        rt,
        workflowId,
        'waits waiting and slow in flight',
        (d) => stepOf(d, 'waits').status === 'waiting_callback' && stepOf(d, 'slow').status === 'running',
      );

      await rt.admin.forceComplete(workflowId, ops);
      const d = await rt.queries.detail(workflowId, null);
      assert.equal(d.status, 'completed');
      assert.deepEqual(
        d.steps.map((s) => s.status),
        ['skipped', 'skipped', 'skipped'],
      );
      const [waitReq] = sim.calls('POST', '/wait');
      await assert.rejects(rt.callbacks.receive(tokenOf(waitReq), { status: 'completed' }), Conflict);

      // The request in flight returns; its outcome no longer counts.
      release();
      await eventually('the in-flight attempt to end', async () => rt.executor?.running() === 0);
      const later = await rt.queries.detail(workflowId, null);
      assert.equal(stepOf(later, 'slow').status, 'skipped');
      assert.equal(later.status, 'completed');
      assert.equal(sim.calls('POST', '/after').length, 0);
      await assert.rejects(rt.admin.forceComplete(workflowId, ops), Conflict);
    });

    it('cancel without compensation stops the workflow and leaves completed steps alone', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc' } });
      sim.route('POST', '/wait', { status: 202 });
      const m = manifestFor(sim, [
        { name: 'account', type: 'http', request: { path: '/accounts' }, compensate: { method: 'DELETE', path: '/accounts/acc' } },
        {
          name: 'waits',
          type: 'callback',
          depends_on: ['account'],
          request: { path: '/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
        { name: 'after', type: 'http', depends_on: ['waits'], request: { path: '/after' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      await untilStep(rt, workflowId, 'waits', 'waiting_callback');

      await rt.admin.cancel(workflowId, false, ops);
      const d = await rt.queries.detail(workflowId, null);
      assert.equal(d.status, 'cancelled');
      assert.equal(d.error, 'cancelled: test repair');
      assert.deepEqual(
        d.steps.map((s) => s.status),
        ['completed', 'cancelled', 'cancelled'],
      );
      assert.equal(sim.calls('DELETE').length, 0);
      await assert.rejects(rt.admin.cancel(workflowId, false, ops), Conflict);
      await assert.rejects(rt.admin.retryStep(workflowId, 'waits', ops), Conflict);
    });

    it('cancel with compensation cancels what is unfinished and undoes what completed', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc' } });
      sim.route('DELETE', '/accounts/:id', { status: 204 });
      sim.route('POST', '/wait', { status: 202 });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        {
          name: 'waits',
          type: 'callback',
          depends_on: ['account'],
          request: { path: '/wait', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      await untilStep(rt, workflowId, 'waits', 'waiting_callback');

      await rt.admin.cancel(workflowId, true, ops);
      const d = await untilDetail(rt, workflowId, 'the rollback to end', (x) => !['running', 'rolling_back'].includes(x.status));
      assert.equal(d.status, 'cancelled', 'a cancel with compensation rolls back, then ends cancelled');
      assert.deepEqual(
        d.steps.map((s) => s.status),
        ['compensated', 'cancelled'],
      );
      assert.equal(sim.calls('DELETE', '/accounts/acc').length, 1);
      assert.match(d.error ?? '', /cancelled by an operator: test repair/);
      assert.ok(
        (await eventsOf(rt, workflowId)).some((e) => e.type === 'admin.cancel' && e.actor === ops.actor && e.data.compensate === true),
      );
    });
  });
}
