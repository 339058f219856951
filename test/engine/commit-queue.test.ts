import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { manifestFor, registerAndStart, sharedRuntime, simFor } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`commit queue (${dialect})`, () => {
    const env = sharedRuntime(dialect, {}, { executor: false });

    it('applies every decision once and in order per workflow, spread over flushes shared with other workflows', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const ids: string[] = [];
      for (let i = 0; i < 9; i++) ids.push((await registerAndStart(rt, m, { register: i === 0 })).workflowId);
      const groups = [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)];

      // Each decision reads the counter its predecessor wrote (kept in the workflow's error field) and
      // refuses to run out of order: a lost update or a reordering rejects it and fails the test. Each turn
      // of the event loop brings decisions for another group of workflows, as outcomes arrive, so a
      // workflow's decisions are spread over many flushes and share them with other workflows'.
      const perWorkflow = 30;
      const submitted: Promise<number>[] = [];
      for (let k = 0; k < perWorkflow; k++) {
        for (const group of groups) {
          for (const id of group)
            submitted.push(
              rt.commits.submit(id, (d) => {
                const seen = Number(d.wf.error ?? '0');
                if (seen !== k) throw new Error(`decision ${k} of ${id} saw ${seen}`);
                d.setWorkflow({ error: String(k + 1) });
                return k;
              }),
            );
          await new Promise((r) => setImmediate(r));
        }
      }
      const results = await Promise.all(submitted);
      assert.equal(results.length, perWorkflow * ids.length);
      for (const id of ids) {
        const d = await rt.queries.detail(id, null);
        assert.equal(d.error, String(perWorkflow), `workflow ${id}`);
      }
    });

    it('rejects only the decision that throws; the rest of its batch commits', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const a = await registerAndStart(rt, m);
      const b = await registerAndStart(rt, m, { register: false });
      const good = rt.commits.submit(a.workflowId, (d) => d.setWorkflow({ error: 'kept' }));
      const bad = rt.commits.submit(b.workflowId, (d) => {
        d.setWorkflow({ error: 'undone' });
        throw new Error('refused');
      });
      await good;
      await assert.rejects(bad, /refused/);
      assert.equal((await rt.queries.detail(a.workflowId, null)).error, 'kept');
      assert.notEqual((await rt.queries.detail(b.workflowId, null)).error, 'undone');
    });
  });
}
