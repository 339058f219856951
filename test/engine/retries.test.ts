import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { eventsOf, manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilDetail, untilWorkflow } from '../support/engine.js';

const hold = { on_failure: 'hold' };

for (const dialect of testDialects()) {
  describe(`retries of requests (${dialect})`, () => {
    // A roomy lease grace: on a loaded machine a 300 ms grace can expire before the request timeout's
    // abort is handled, and the step is then reclaimed (same attempt) instead of retried.
    const env = sharedRuntime(dialect, { PROVISIONER_LEASE_GRACE_MS: '3000' });

    it('retries a 5xx with growing backoff, each attempt with its own Idempotency-Key and the workflow and tenant headers', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth < 3 ? { status: 503, body: 'busy' } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [
        {
          name: 'create_account',
          type: 'http',
          retry: { max_attempts: 3, initial_s: 0.1, backoff: 2, max_s: 1 },
          request: { path: '/accounts' },
        },
      ]);
      const { workflowId, tenantId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      const calls = sim.calls('POST', '/accounts');
      assert.deepEqual(
        calls.map((r) => r.headers['idempotency-key']),
        [1, 2, 3].map((n) => `${workflowId}:create_account:${n}`),
      );
      for (const r of calls) {
        assert.equal(r.headers['x-provisioner-workflow'], workflowId);
        assert.equal(r.headers['x-provisioner-tenant'], tenantId);
      }
      // Equal jitter: at least half of 0.1 s, then half of 0.2 s.
      assert.ok(calls[1].at - calls[0].at >= 50, `second attempt after ${calls[1].at - calls[0].at} ms`);
      assert.ok(calls[2].at - calls[1].at >= 100, `third attempt after ${calls[2].at - calls[1].at} ms`);
      assert.equal(stepOf(d, 'create_account').attempt, 3);
    });

    it('retries 408 and 429 answers', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { status: 408 } : nth === 2 ? { status: 429 } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [
        { name: 'create_account', type: 'http', retry: { max_attempts: 3, initial_s: 0.05 }, request: { path: '/accounts' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      await untilWorkflow(rt, workflowId, 'completed');
      assert.equal(sim.calls('POST', '/accounts').length, 3);
    });

    it('retries a request whose connection was reset', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { reset: true } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [
        { name: 'create_account', type: 'http', retry: { max_attempts: 3, initial_s: 0.05 }, request: { path: '/accounts' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      const keys = sim.calls('POST', '/accounts').map((r) => r.headers['idempotency-key']);
      assert.deepEqual(keys, [`${workflowId}:create_account:1`, `${workflowId}:create_account:2`]);
      assert.deepEqual(stepOf(d, 'create_account').output, { id: 'acc' });
    });

    it('retries a request that got no answer within timeout_s', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { hang: true } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [
        {
          name: 'create_account',
          type: 'http',
          timeout_s: 0.3,
          retry: { max_attempts: 3, initial_s: 0.05 },
          request: { path: '/accounts' },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      await untilWorkflow(rt, workflowId, 'completed');
      const retried = (await eventsOf(rt, workflowId)).filter((e) => e.type === 'step.retry_scheduled');
      assert.equal(retried.length, 1);
      assert.match(String(retried[0].data.error), /POST \/accounts: no answer within 0.3 s/);
      const calls = sim.calls('POST', '/accounts');
      assert.equal(calls.length, 2);
      assert.ok(calls[1].at - calls[0].at >= 300, `retried after ${calls[1].at - calls[0].at} ms, before the timeout`);
    });

    it('does not send the next attempt before the Retry-After the service asked for', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { json: { id: 'acc' } }));
      const m = manifestFor(sim, [
        { name: 'create_account', type: 'http', retry: { max_attempts: 3, initial_s: 0.05 }, request: { path: '/accounts' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const waiting = await untilDetail(
        rt,
        workflowId,
        'the retry to be scheduled',
        (d) => stepOf(d, 'create_account').status === 'pending' && stepOf(d, 'create_account').attempt === 1,
      );
      const step = stepOf(waiting, 'create_account');
      const firstAt = sim.calls('POST', '/accounts')[0].at;
      assert.ok(Date.parse(step.next_run_at as string) >= firstAt + 1000 - 5, 'next_run_at honours Retry-After');
      assert.match(step.waiting_reason ?? '', /attempt 1 of 3 failed .*503.*next attempt at/);
      await untilWorkflow(rt, workflowId, 'completed');
      const calls = sim.calls('POST', '/accounts');
      assert.ok(calls[1].at - calls[0].at >= 1000 - 5, `second attempt ${calls[1].at - calls[0].at} ms after the first`);
    });

    it('fails the step after max_attempts retryable answers', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { status: 500, json: { error: 'db down' } });
      const m = manifestFor(
        sim,
        [{ name: 'create_account', type: 'http', retry: { max_attempts: 2, initial_s: 0.05 }, request: { path: '/accounts' } }],
        hold,
      );
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'failed');
      const step = stepOf(d, 'create_account');
      assert.equal(step.status, 'failed');
      assert.equal(sim.calls('POST', '/accounts').length, 2);
      assert.match(step.error ?? '', /POST \/accounts answered 500 \(temporary\) \(gave up after 2 attempts\)/);
      assert.match(d.error ?? '', /step create_account failed/);
    });

    it('fails at once on a 4xx that is not retryable', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { status: 422, json: { detail: 'plan unknown' } });
      const m = manifestFor(
        sim,
        [{ name: 'create_account', type: 'http', retry: { max_attempts: 5, initial_s: 0.05 }, request: { path: '/accounts' } }],
        hold,
      );
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'failed');
      assert.equal(sim.calls('POST', '/accounts').length, 1);
      assert.equal(stepOf(d, 'create_account').attempt, 1);
      assert.match(stepOf(d, 'create_account').error ?? '', /answered 422/);
    });

    it('keeps polling through a 5xx poll answer, waiting for its Retry-After before the next poll', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/indexes', { status: 202, headers: { location: '/indexes/ix' } });
      sim.route('GET', '/indexes/ix', (_r, nth) =>
        nth === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { json: { status: 'completed' } },
      );
      const m = manifestFor(sim, [
        { name: 'build_index', type: 'poll', request: { path: '/indexes' }, poll: { interval_s: 0.05, timeout_s: 10 } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      await untilWorkflow(rt, workflowId, 'completed');
      const polls = sim.calls('GET', '/indexes/ix');
      assert.equal(polls.length, 2);
      assert.ok(polls[1].at - polls[0].at >= 1000 - 5, `polled again after ${polls[1].at - polls[0].at} ms`);
    });
  });
}
