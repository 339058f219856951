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
  });
}
