import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import type { TestRuntime } from '../support/runtime.js';
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

/** Every text the engine stored, so a test can prove a secret is nowhere in plaintext. */
async function everythingStored(rt: TestRuntime): Promise<string> {
  const tables = ['workflows', 'steps', 'events', 'outbox'] as const;
  const dumps = await Promise.all(tables.map((t) => rt.store.db.selectFrom(t).selectAll().execute()));
  return JSON.stringify(dumps);
}

/** Every read view of a workflow a tenant or operator can get. */
async function everyView(rt: TestRuntime, workflowId: string, tenantId: string, slug: string): Promise<string> {
  return JSON.stringify([
    await rt.queries.detail(workflowId, tenantId),
    await rt.queries.list({ tenantId, limit: 10 }),
    await rt.queries.status(tenantId, slug),
    await eventsOf(rt, workflowId),
  ]);
}

for (const dialect of testDialects()) {
  describe(`step types (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('completes an http step with its JSON answer as output, taking endpoint and credentials out of it', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', {
        status: 201,
        json: { id: 'acc_1', endpoint: 'https://acc-1.example', credentials: { password: 'pw-http-5d1e' } },
      });
      const m = manifestFor(sim, [{ name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts' } }]);
      const { workflowId, tenantId, slug } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      const step = stepOf(d, 'create_account');
      assert.deepEqual(step.output, { id: 'acc_1', endpoint: 'https://acc-1.example' });
      assert.equal(step.endpoint, 'https://acc-1.example');
      assert.equal(d.endpoint, 'https://acc-1.example');
      assert.equal(d.has_credentials, true);
      assert.equal(d.steps_completed, 1);
      const revealed = await rt.queries.revealCredentials(tenantId, slug, 'test');
      assert.deepEqual(revealed.credentials, { password: 'pw-http-5d1e' });
    });

    it('never shows credentials in a step output or any view, and never stores them in plaintext', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc_2', credentials: { api_key: 'key-http-91ab' } } });
      sim.route('POST', '/buckets', { status: 202 });
      const m = manifestFor(sim, [
        { name: 'create_account', type: 'http', request: { path: '/accounts' } },
        {
          name: 'create_bucket',
          type: 'callback',
          depends_on: ['create_account'],
          request: { path: '/buckets', body: { token: '{{callback.token}}', callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 5 },
        },
      ]);
      const { workflowId, tenantId, slug } = await registerAndStart(rt, m);
      const req = await sim.waitFor((r) => r.path === '/buckets');
      await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      await rt.callbacks.receive(tokenOf(req), {
        status: 'completed',
        credentials: { secret: 'key-callback-77c2' },
        metadata: { bucket: 'b1' },
      });
      const d = await untilWorkflow(rt, workflowId, 'completed');

      assert.deepEqual(stepOf(d, 'create_account').output, { id: 'acc_2' });
      assert.deepEqual(stepOf(d, 'create_bucket').output, { bucket: 'b1' });
      const views = await everyView(rt, workflowId, tenantId, slug);
      const stored = await everythingStored(rt);
      for (const secret of ['key-http-91ab', 'key-callback-77c2']) {
        assert.ok(!views.includes(secret), `${secret} appears in a view`);
        assert.ok(!stored.includes(secret), `${secret} is stored in plaintext`);
      }
      assert.ok(!stored.includes(tokenOf(req)), 'the callback token is stored in plaintext');
      assert.deepEqual((await rt.queries.revealCredentials(tenantId, slug, 'test')).credentials, {
        api_key: 'key-http-91ab',
        secret: 'key-callback-77c2',
      });
    });

    it('waits on a callback step until the service reports, then completes it with the reported endpoint and metadata', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/buckets', { status: 202, json: { accepted: true } });
      const m = manifestFor(sim, [
        {
          name: 'create_bucket',
          type: 'callback',
          request: { path: '/buckets', body: { callback_url: '{{callback.url}}', callback_token: '{{callback.token}}' } },
          wait: { timeout_s: 5 },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const req = await sim.waitFor((r) => r.path === '/buckets');
      assert.equal((req.body as { callback_url: string }).callback_url, `${rt.config.publicUrl}/api/v1/provisioning/callback`);
      const waiting = await untilStep(rt, workflowId, 'create_bucket', 'waiting_callback');
      assert.match(stepOf(waiting, 'create_bucket').waiting_reason ?? '', /waiting for the callback/);
      assert.ok(stepOf(waiting, 'create_bucket').deadline_at, 'a waiting step shows its deadline');

      const res = await rt.callbacks.receive(tokenOf(req), {
        status: 'completed',
        endpoint: 'https://bucket.example',
        metadata: { bucket: 'b7' },
      });
      assert.deepEqual(res, { workflow_id: workflowId, step_name: 'create_bucket', step_status: 'completed', duplicate: false });
      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(stepOf(d, 'create_bucket').output, { bucket: 'b7' });
      assert.equal(d.endpoint, 'https://bucket.example');
    });

    it('polls the Location header of a poll step until the service reports completed', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/indexes', { status: 202, headers: { location: '/indexes/ix1/status' } });
      sim.route('GET', '/indexes/ix1/status', (_r, nth) =>
        nth < 3
          ? { json: { status: 'in_progress', metadata: { pct: nth * 30 } } }
          : { json: { status: 'completed', endpoint: 'https://ix1.example', metadata: { index: 'ix1' } } },
      );
      const m = manifestFor(sim, [
        { name: 'build_index', type: 'poll', request: { path: '/indexes' }, poll: { interval_s: 0.05, timeout_s: 5 } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      const step = stepOf(d, 'build_index');
      assert.deepEqual(step.output, { index: 'ix1' });
      assert.equal(step.endpoint, 'https://ix1.example');
      assert.equal(step.poll_count, 3);
      assert.equal(sim.calls('GET', '/indexes/ix1/status').length, 3);
      const polled = (await eventsOf(rt, workflowId)).filter((e) => e.type === 'step.polled');
      assert.equal(polled.length, 1, 'polls are summarised in one event');
      assert.equal(polled[0].data.polls, 3);
    });

    it('polls body.poll_url when the answer has no Location header, recording progress between polls', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/jobs', { status: 202, json: { poll_url: '/jobs/j1' } });
      let release = false;
      sim.route('GET', '/jobs/j1', () =>
        release
          ? { json: { status: 'succeeded', metadata: { job: 'j1' } } }
          : { json: { status: 'running', metadata: { stage: 'copying' } } },
      );
      const m = manifestFor(sim, [{ name: 'run_job', type: 'poll', request: { path: '/jobs' }, poll: { interval_s: 0.05, timeout_s: 5 } }]);
      const { workflowId } = await registerAndStart(rt, m);

      const polling = await untilDetail(rt, workflowId, 'run_job to report progress', (d) => stepOf(d, 'run_job').progress !== null);
      assert.equal(stepOf(polling, 'run_job').status, 'waiting_poll');
      assert.deepEqual(stepOf(polling, 'run_job').progress, { stage: 'copying' });
      assert.match(stepOf(polling, 'run_job').waiting_reason ?? '', /polling \/jobs\/j1/);
      release = true;
      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(stepOf(d, 'run_job').output, { job: 'j1' });
    });

    it('holds a delay step for its seconds before the steps after it start', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/after', { json: { ok: true } });
      const m = manifestFor(sim, [
        { name: 'pause', type: 'delay', delay: { seconds: 0.3 } },
        { name: 'after_pause', type: 'http', depends_on: ['pause'], request: { path: '/after' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'completed');
      const pause = stepOf(d, 'pause');
      assert.deepEqual(pause.output, { waited_s: 0.3 });
      const startedAt = Date.parse(pause.started_at as string);
      const [after] = sim.calls('POST', '/after');
      assert.ok(after.at - startedAt >= 300, `the next step started ${after.at - startedAt} ms after the delay began`);
    });

    it('fails a poll step that is still in progress at its deadline with "timed out waiting for poll"', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/indexes', { status: 202, headers: { location: '/indexes/slow' } });
      sim.route('GET', '/indexes/slow', { json: { status: 'in_progress' } });
      const m = manifestFor(
        sim,
        [{ name: 'build_index', type: 'poll', request: { path: '/indexes' }, poll: { interval_s: 0.05, timeout_s: 0.3 } }],
        { on_failure: 'hold' },
      );
      const { workflowId } = await registerAndStart(rt, m);

      const d = await untilWorkflow(rt, workflowId, 'failed');
      const step = stepOf(d, 'build_index');
      assert.equal(step.error, 'timed out waiting for poll');
      assert.ok(Date.parse(step.completed_at as string) - Date.parse(step.started_at as string) >= 300);
      assert.ok(step.poll_count >= 1, 'it kept polling until the deadline');
    });
  });
}
