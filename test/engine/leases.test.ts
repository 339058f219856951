import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stepsRepo } from '../../src/store/steps-repo.js';
import type { Executor, ExecutorHooks } from '../../src/engine/executor.js';
import { testDialects, type TestRuntime } from '../support/runtime.js';
import { extraExecutor, manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilWorkflow } from '../support/engine.js';

async function claimAs(rt: TestRuntime, owner: string) {
  return (await rt.store.dialect.hot.claim({ owner, limit: 1, now: Date.now(), leaseGraceMs: 300, afterTenant: '', skipWorkflows: [] }))
    .steps;
}

for (const dialect of testDialects()) {
  describe(`leases and fencing (${dialect})`, () => {
    // No executor of its own: each test starts the workers it needs, and stops them when it ends.
    const env = sharedRuntime(dialect, {}, { executor: false });
    function worker(t: { after(fn: () => Promise<void>): void }, hooks?: ExecutorHooks): Executor {
      const e = extraExecutor(env.rt, { hooks });
      t.after(() => e.stop(200));
      return e;
    }

    it("re-runs a step whose worker died with the same Idempotency-Key once its lease expires, and ignores the dead worker's writes", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'create', type: 'http', timeout_s: 0.3, request: { path: '/accounts' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      const claimedAfter = Date.now();
      const [claimed] = await claimAs(rt, 'dead-worker:1');
      assert.equal(claimed.workflow_id, workflowId);
      assert.deepEqual([claimed.status, claimed.attempt, claimed.lease_owner], ['running', 1, 'dead-worker:1']);
      const leaseEnds = claimed.lease_expires_at as number;
      assert.ok(leaseEnds >= claimedAfter + 300 + 300, 'the lease covers the request timeout plus the grace');
      let zombieWrite: boolean | null = null;
      sim.route('POST', '/accounts', async () => {
        // While the real worker runs the step, the dead one wakes up and tries to fail it.
        zombieWrite = await stepsRepo.updateFenced(
          rt.store.db,
          { stepId: claimed.id, owner: 'dead-worker:1' },
          { status: 'failed', error: 'zombie', lease_owner: null },
        );
        return { json: { id: 'acc' } };
      });

      worker(t).start();
      const d = await untilWorkflow(rt, workflowId, 'completed');
      const calls = sim.calls('POST', '/accounts');
      assert.equal(calls.length, 1);
      assert.ok(calls[0].at >= leaseEnds, `re-run ${leaseEnds - calls[0].at} ms before the lease expired`);
      assert.equal(calls[0].headers['idempotency-key'], `${workflowId}:create:1`, "the key the dead worker's attempt had");
      assert.equal(zombieWrite, false);
      assert.equal(stepOf(d, 'create').attempt, 1);
      assert.deepEqual(stepOf(d, 'create').output, { id: 'acc' });
      assert.equal(await stepsRepo.updateFenced(rt.store.db, { stepId: claimed.id, owner: 'dead-worker:1' }, { status: 'failed' }), false);
      assert.equal(stepOf(await rt.queries.detail(workflowId, null), 'create').status, 'completed');
    });

    it('does not claim a step of a workflow whose last outcome is still being recorded', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/accounts' } }]);
      const a = await registerAndStart(rt, m);
      const b = await registerAndStart(rt, m, { register: false });
      const claim = async (skipWorkflows: string[]) =>
        (
          await rt.store.dialect.hot.claim({
            owner: 'probe:1',
            limit: 5,
            now: Date.now(),
            leaseGraceMs: 300,
            afterTenant: '',
            skipWorkflows,
          })
        ).steps;
      const first = (await claim([a.workflowId])).map((s) => s.workflow_id);
      assert.ok(first.includes(b.workflowId) && !first.includes(a.workflowId), `claimed ${first.join(', ')}`);
      const second = (await claim([])).map((s) => s.workflow_id);
      assert.ok(second.includes(a.workflowId), 'once recorded, its step is claimed');
    });

    it('ignores the outcome of a worker that lost its lease while its request was in flight', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      let lost = 0;
      const m = manifestFor(sim, [{ name: 'create', type: 'http', timeout_s: 2, request: { path: '/accounts' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      sim.route('POST', '/accounts', async (req, nth) => {
        if (nth > 1) return { json: { id: 'from-second-worker' }, delayMs: 150 };
        // The first worker stalls past its lease (a long pause, a frozen VM) and another replica takes the step.
        const [row] = await stepsRepo.listForWorkflow(rt.store.db, workflowId);
        await stepsRepo.update(rt.store.db, row.id, { lease_expires_at: 0 });
        worker(t).start();
        await sim.waitFor((r) => r.path === '/accounts' && r !== req);
        return { json: { id: 'from-stalled-worker' } };
      });
      worker(t, {
        onLeaseLost: () => {
          lost++;
        },
      }).start();

      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(stepOf(d, 'create').output, { id: 'from-second-worker' });
      assert.equal(lost, 1, 'the stalled worker had its outcome refused');
      assert.deepEqual(
        sim.calls('POST', '/accounts').map((r) => r.headers['idempotency-key']),
        [`${workflowId}:create:1`, `${workflowId}:create:1`],
      );
    });

    it('hands an aborted step back at once when a worker stops, so another runs the same attempt', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { hang: true } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [{ name: 'create', type: 'http', timeout_s: 30, request: { path: '/accounts' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      const first = worker(t);
      first.start();
      await sim.waitFor((r) => r.path === '/accounts');

      const stoppedAt = Date.now();
      await first.stop(50);
      worker(t).start();
      const d = await untilWorkflow(rt, workflowId, 'completed');
      const calls = sim.calls('POST', '/accounts');
      assert.equal(calls.length, 2);
      assert.ok(calls[1].at - stoppedAt < 5000, 'taken over without waiting for the 30 s lease');
      assert.equal(calls[1].headers['idempotency-key'], calls[0].headers['idempotency-key']);
      assert.equal(stepOf(d, 'create').attempt, 1);
    });
  });
}

for (const dialect of testDialects()) {
  describe(`a claim (${dialect})`, () => {
    // A database of its own: the next due moment is the earliest of all steps.
    const env = sharedRuntime(dialect, {}, { executor: false });

    it('reports when the next step it did not claim becomes due, in the same statement', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/accounts' } }]);
      const soon = await registerAndStart(rt, m);
      const later = await registerAndStart(rt, m, { register: false });
      const dueAt = Date.now() + 60_000;
      await rt.commits.submit(later.workflowId, (d) => {
        const s = d.step('only');
        if (!s) throw new Error('no step');
        d.writeStep(s, { next_run_at: dueAt }, { from: ['pending'] });
      });
      const claim = () =>
        rt.store.dialect.hot.claim({ owner: 'probe:1', limit: 5, now: Date.now(), leaseGraceMs: 300, afterTenant: '', skipWorkflows: [] });

      const first = await claim();
      assert.deepEqual(
        first.steps.map((s) => s.workflow_id),
        [soon.workflowId],
      );
      assert.equal(first.nextDueAt, dueAt, 'the step due later');
      assert.equal(Object.hasOwn(first.steps[0] ?? {}, 'pv_next_due_at'), false, 'claimed rows are steps, nothing more');

      const second = await claim();
      assert.deepEqual(second.steps, [], 'nothing due now');
      assert.equal(second.nextDueAt, dueAt);

      await rt.commits.submit(later.workflowId, (d) => {
        const s = d.step('only');
        if (!s) throw new Error('no step');
        d.writeStep(s, { next_run_at: null }, { from: ['pending'] });
      });
      assert.equal((await claim()).nextDueAt, null, 'nothing will become due');
    });
  });
}
