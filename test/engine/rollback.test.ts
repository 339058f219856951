import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict } from '../../src/domain/errors.js';
import { testDialects } from '../support/runtime.js';
import {
  eventsOf,
  FAST_RETRY,
  manifestFor,
  registerAndStart,
  sharedRuntime,
  simFor,
  stepOf,
  tokenOf,
  untilStep,
  untilWorkflow,
} from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`rollback (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('cancels pending and waiting steps and compensates completed ones, and waiting ones the service accepted, in reverse dependency order', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      for (const p of ['/accounts', '/buckets', '/dns']) sim.route('POST', p, { json: { id: p.slice(1) } });
      sim.route('POST', '/indexes', { status: 202 });
      for (const p of ['/accounts/:id', '/buckets/:id', '/dns/:id', '/indexes']) sim.route('DELETE', p, { status: 204 });
      // Fails only once the parallel callback step is surely waiting, so the test sees it cancelled.
      sim.route('POST', '/fail', async (req) => {
        await untilStep(rt, req.headers['x-provisioner-workflow'], 'index', 'waiting_callback');
        return { status: 400, json: { error: 'quota exceeded' } };
      });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        {
          name: 'bucket',
          type: 'http',
          depends_on: ['account'],
          request: { path: '/buckets' },
          compensate: { method: 'DELETE', path: '/buckets/{{steps.bucket.output.id}}' },
        },
        {
          name: 'index',
          type: 'callback',
          depends_on: ['account'],
          request: { path: '/indexes', body: { callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 10 },
          compensate: { method: 'DELETE', path: '/indexes' },
        },
        {
          name: 'dns',
          type: 'http',
          depends_on: ['bucket'],
          request: { path: '/dns' },
          compensate: { method: 'DELETE', path: '/dns/{{steps.dns.output.id}}' },
        },
        { name: 'quota', type: 'http', depends_on: ['dns'], request: { path: '/fail' } },
        { name: 'never', type: 'http', depends_on: ['quota'], request: { path: '/never' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'rolled_back');
      const undone = sim.calls('DELETE').map((r) => r.path);
      assert.deepEqual([...undone].sort(), ['/accounts/accounts', '/buckets/buckets', '/dns/dns', '/indexes']);
      const order = (p: string) => undone.indexOf(p);
      assert.ok(order('/dns/dns') < order('/buckets/buckets') && order('/buckets/buckets') < order('/accounts/accounts'), undone.join(' '));
      assert.ok(order('/indexes') < order('/accounts/accounts'), 'the accepted index request is undone before the account it depends on');
      assert.deepEqual(Object.fromEntries(d.steps.map((s) => [s.name, s.status])), {
        account: 'compensated',
        bucket: 'compensated',
        index: 'compensated',
        dns: 'compensated',
        quota: 'failed',
        never: 'cancelled',
      });
      assert.match(d.error ?? '', /step quota failed: POST \/fail answered 400/);
      assert.equal(sim.calls('POST', '/never').length, 0);
      const [indexReq] = sim.calls('POST', '/indexes');
      await assert.rejects(
        rt.callbacks.receive(tokenOf(indexReq), { status: 'completed' }),
        Conflict,
        "a cancelled step's token stops working",
      );
      const types = (await eventsOf(rt, workflowId)).map((e) => e.type);
      assert.ok(types.indexOf('workflow.failed') < types.indexOf('workflow.rolling_back'));
      assert.equal(types.at(-1), 'workflow.rolled_back');
    });

    it('waits for the compensation of a compensable descendant even when the step between them has none', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      for (const p of ['/a', '/b', '/c']) sim.route('POST', p, { json: {} });
      sim.route('POST', '/fail', { status: 400 });
      sim.route('DELETE', '/a', { status: 204 });
      sim.route('DELETE', '/c', { status: 204, delayMs: 200 });
      const m = manifestFor(sim, [
        { name: 'a', type: 'http', request: { path: '/a' }, compensate: { method: 'DELETE', path: '/a' } },
        { name: 'b', type: 'http', depends_on: ['a'], request: { path: '/b' } },
        { name: 'c', type: 'http', depends_on: ['b'], request: { path: '/c' }, compensate: { method: 'DELETE', path: '/c' } },
        { name: 'd', type: 'http', depends_on: ['c'], request: { path: '/fail' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      await untilWorkflow(rt, workflowId, 'rolled_back');
      const [delC] = sim.calls('DELETE', '/c');
      const [delA] = sim.calls('DELETE', '/a');
      assert.ok(delA.at >= delC.at + 200, `a was compensated ${delA.at - delC.at} ms after c's compensation began; c's must finish first`);
    });

    it('lets a request in flight finish its attempt, then compensates that step too', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      let statusWhileInFlight: string[] = [];
      // Answers only once the rollback has begun, so the attempt is surely in flight during it.
      sim.route('POST', '/slow', async (req) => {
        const d = await untilWorkflow(rt, req.headers['x-provisioner-workflow'], 'rolling_back');
        statusWhileInFlight = [d.status, stepOf(d, 'slow').status, stepOf(d, 'fails').status];
        return { json: { id: 's' } };
      });
      sim.route('POST', '/fail', { status: 400 });
      sim.route('DELETE', '/slow', { status: 204 });
      const m = manifestFor(sim, [
        { name: 'slow', type: 'http', request: { path: '/slow' }, compensate: { method: 'DELETE', path: '/slow' } },
        { name: 'fails', type: 'http', request: { path: '/fail' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'rolled_back');
      assert.deepEqual(statusWhileInFlight, ['rolling_back', 'running', 'failed']);
      assert.equal(stepOf(d, 'slow').status, 'compensated');
      assert.deepEqual(stepOf(d, 'slow').output, { id: 's' });
      assert.equal(sim.calls('DELETE', '/slow').length, 1);
    });

    it('fails the workflow with a clear error when a compensation keeps failing, and refuses retry-step afterwards', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc' } });
      sim.route('DELETE', '/accounts/:id', { status: 503, body: 'maintenance' });
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          retry: { ...FAST_RETRY, max_attempts: 2 },
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        { name: 'setup', type: 'http', depends_on: ['account'], request: { path: '/fail' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'failed');
      assert.match(
        d.error ?? '',
        /^rollback incomplete: could not undo account: DELETE \/accounts\/\{\{steps\.account\.output\.id\}\} answered 503 \(temporary\)/,
      );
      assert.equal(stepOf(d, 'account').status, 'failed');
      assert.deepEqual(
        sim.calls('DELETE').map((r) => r.headers['idempotency-key']),
        [`${workflowId}:account:compensate-1`, `${workflowId}:account:compensate-2`],
      );
      await assert.rejects(rt.admin.retryStep(workflowId, 'setup', { actor: 'ops', reason: null }), Conflict);
      await assert.rejects(rt.admin.retryStep(workflowId, 'account', { actor: 'ops', reason: null }), Conflict);
      assert.equal((await rt.queries.detail(workflowId, null)).status, 'failed');
    });

    it('refuses retry-step once the workflow has been rolled back', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/fail' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      await untilWorkflow(rt, workflowId, 'rolled_back');
      await assert.rejects(
        rt.admin.retryStep(workflowId, 'only', { actor: 'ops', reason: null }),
        (e: unknown) => e instanceof Conflict && /rolled_back/.test(e.message),
      );
    });
  });
}
