import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { extraExecutor, manifestFor, registerAndStart, sharedRuntime, simFor, untilWorkflow } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`wake-ups (${dialect})`, () => {
    const env = sharedRuntime(dialect, {}, { executor: false });

    it('starts each next step at once, without waiting for the fallback poll', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/step', { json: {} });
      const chain = Array.from({ length: 25 }, (_, i) => ({
        name: `s${i}`,
        type: 'http',
        request: { path: '/step' },
        ...(i > 0 ? { depends_on: [`s${i - 1}`] } : {}),
      }));
      // A fallback poll far longer than the whole chain should take: one lost wake-up and the test times out.
      const executor = extraExecutor(rt, { config: { pollIntervalMs: 30_000 } });
      t.after(() => executor.stop(200));
      executor.start();
      const { workflowId } = await registerAndStart(rt, manifestFor(sim, chain));

      await untilWorkflow(rt, workflowId, 'completed', 10_000);
      assert.equal(sim.calls('POST', '/step').length, 25);
    });

    it('runs each poll and each retry when it is due, though the loop measured its sleep before the outcome that scheduled it was recorded', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/jobs', (_r, nth) => ({ status: 202, headers: { location: `/jobs/${nth}` } }));
      sim.route('GET', '/jobs/:id', { json: { status: 'completed' } });
      sim.route('POST', '/flaky', (_r, nth) => (nth % 3 === 0 ? { json: {} } : { status: 503 }));
      // Ten polls and five steps that succeed on their third attempt, one after another: each is due a few
      // milliseconds after its request ended, by which time the claim loop has looked and gone to sleep.
      const chain = Array.from({ length: 15 }, (_, i) => ({
        name: `s${i}`,
        ...(i % 3 === 2
          ? { type: 'http', request: { path: '/flaky' }, retry: { max_attempts: 3, initial_s: 0.01, backoff: 1, max_s: 0.01 } }
          : { type: 'poll', request: { path: '/jobs' }, poll: { interval_s: 0.01, timeout_s: 60 } }),
        ...(i > 0 ? { depends_on: [`s${i - 1}`] } : {}),
      }));
      const executor = extraExecutor(rt, { config: { pollIntervalMs: 30_000 } });
      t.after(() => executor.stop(200));
      executor.start();
      const { workflowId } = await registerAndStart(rt, manifestFor(sim, chain));

      await untilWorkflow(rt, workflowId, 'completed', 10_000);
      assert.equal(sim.calls('GET', '/jobs/:id').length, 10);
      assert.equal(sim.calls('POST', '/flaky').length, 15);
    });
  });
}
