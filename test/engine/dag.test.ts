import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, tokenOf, untilDetail, untilWorkflow } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`parallel branches and joins (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('runs independent branches at the same time', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/root', { json: { id: 'r1' } });
      // Each branch answers only once the other has started: run one after the other, they would time out.
      sim.route('POST', '/left', async () => {
        await sim.waitFor((r) => r.path === '/right', 3000);
        return { json: { side: 'left' } };
      });
      sim.route('POST', '/right', async () => {
        await sim.waitFor((r) => r.path === '/left', 3000);
        return { json: { side: 'right' } };
      });
      sim.route('POST', '/join', { json: { joined: true } });
      const m = manifestFor(sim, [
        { name: 'root', type: 'http', request: { path: '/root' } },
        { name: 'left', type: 'http', depends_on: ['root'], request: { path: '/left' } },
        { name: 'right', type: 'http', depends_on: ['root'], request: { path: '/right' } },
        { name: 'join', type: 'http', depends_on: ['left', 'right'], request: { path: '/join' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual([stepOf(d, 'left').output, stepOf(d, 'right').output], [{ side: 'left' }, { side: 'right' }]);
      const [join] = sim.calls('POST', '/join');
      for (const parent of ['left', 'right']) {
        const done = Date.parse(stepOf(d, parent).completed_at as string);
        assert.ok(join.at >= done, `join started before ${parent} completed`);
      }
      assert.deepEqual(
        sim.requests.map((r) => r.path).filter((p) => p === '/join'),
        ['/join'],
      );
    });

    it('starts a step with two parents only after both have completed', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/fast', { json: { id: 'f' } });
      sim.route('POST', '/slow', { status: 202 });
      sim.route('POST', '/join', { json: { joined: true } });
      const m = manifestFor(sim, [
        { name: 'fast', type: 'http', request: { path: '/fast' } },
        {
          name: 'slow',
          type: 'callback',
          request: { path: '/slow', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
        },
        { name: 'join', type: 'http', depends_on: ['fast', 'slow'], request: { path: '/join' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      // The parent's completion and its children's readiness commit together, so this state is final until the callback.
      const half = await untilDetail(
        rt,
        workflowId,
        'fast done while slow waits',
        (d) => stepOf(d, 'fast').status === 'completed' && stepOf(d, 'slow').status === 'waiting_callback',
      );
      const join = stepOf(half, 'join');
      assert.equal(join.status, 'pending');
      assert.equal(join.next_run_at, null);
      assert.equal(join.waiting_reason, 'waiting for slow to complete');
      assert.equal(sim.calls('POST', '/join').length, 0);

      const [slowReq] = sim.calls('POST', '/slow');
      await rt.callbacks.receive(tokenOf(slowReq), { status: 'completed' });
      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.equal(sim.calls('POST', '/join').length, 1);
      assert.ok(sim.calls('POST', '/join')[0].at >= Date.parse(stepOf(d, 'slow').completed_at as string));
    });
  });
}
