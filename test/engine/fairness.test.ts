import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { extraExecutor, manifestFor, registerAndStart, sharedRuntime, simFor, unique, untilWorkflow } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`fair claims across tenants (${dialect})`, () => {
    // Two worker slots; the executor starts only once both backlogs are queued.
    const env = sharedRuntime(dialect, { PROVISIONER_WORKER_CONCURRENCY: '2' }, { executor: false });

    it("finishes a small tenant's workflow before a large tenant's older backlog is done", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/work', { json: { ok: true }, delayMs: 60 });
      const tenantA = unique('tenant-a');
      const backlog: string[] = [];
      for (let i = 0; i < 30; i++) {
        // One active workflow per tenant and service: A's backlog spans 30 services.
        const m = manifestFor(sim, [{ name: 'work', type: 'http', request: { path: '/work' } }]);
        backlog.push((await registerAndStart(rt, m, { tenantId: tenantA })).workflowId);
      }
      const small = await registerAndStart(
        rt,
        manifestFor(sim, [
          { name: 'first', type: 'http', request: { path: '/work' } },
          { name: 'second', type: 'http', depends_on: ['first'], request: { path: '/work' } },
        ]),
        { tenantId: unique('tenant-b') },
      );

      const executor = extraExecutor(rt);
      t.after(() => executor.stop(200));
      executor.start();
      await untilWorkflow(rt, small.workflowId, 'completed', 10_000);
      const doneA = (await rt.queries.list({ tenantId: tenantA, status: 'completed', limit: 100 })).items.length;
      assert.ok(doneA <= 10, `tenant A finished ${doneA} of 30 workflows before tenant B's one; B waited behind A's backlog`);
      for (const id of backlog) await untilWorkflow(rt, id, 'completed', 10_000);
    });
  });
}
