import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestRuntime, testDialects } from '../support/runtime.js';
import { runWorkflow, startService } from '../webhooks/helpers.js';
import { serverFor } from '../support/api.js';
import { createMetrics } from '../../src/metrics.js';

/** The value of the sample `name{labels}` in Prometheus text, whatever the label order; null if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return null;
}

for (const dialect of testDialects()) {
  describe(`/metrics (${dialect})`, () => {
    it('counts a completed workflow, its step attempt and its duration, with service, type and outcome labels', async () => {
      const rt = await startTestRuntime(dialect);
      const sim = await startService();
      const h = await serverFor(rt);
      try {
        const { slug } = await runWorkflow(rt, sim, 'completed');
        const scrape = async () => {
          const r = await h.app.inject({ method: 'GET', url: '/metrics' });
          assert.equal(r.statusCode, 200);
          assert.match(String(r.headers['content-type']), /^text\/plain/);
          return r.body;
        };
        // Workflow counters are fed as the dispatcher fans the outbox out: at most one poll later.
        const text = await eventually('the completed workflow to be counted', async () => {
          const t = await scrape();
          return sample(t, 'provisioner_workflows_total', { service: slug, event: 'completed' }) === 1 ? t : null;
        });
        assert.equal(sample(text, 'provisioner_workflows_total', { service: slug, event: 'started' }), 1);
        assert.equal(sample(text, 'provisioner_workflows_total', { service: slug, event: 'failed' }), null);
        assert.equal(sample(text, 'provisioner_step_attempts_total', { type: 'http', outcome: 'completed' }), 1);
        assert.equal(sample(text, 'provisioner_step_attempt_duration_seconds_count', { type: 'http', outcome: 'completed' }), 1);
        assert.equal(
          sample(text, 'provisioner_step_attempt_duration_seconds_bucket', { type: 'http', outcome: 'completed', le: '+Inf' }),
          1,
        );
        assert.equal(sample(text, 'provisioner_steps_due'), 0);
        assert.equal(sample(text, 'provisioner_oldest_due_step_age_seconds'), 0);
        assert.equal(sample(text, 'provisioner_outbox_backlog'), 0);
        assert.equal(sample(text, 'provisioner_webhook_deliveries_backlog', { status: 'dead' }), 0);
        assert.ok(sample(text, 'process_cpu_user_seconds_total') !== null, 'process metrics');
        assert.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== null, 'node metrics');
        for (const name of [
          'provisioner_callbacks_total',
          'provisioner_step_lease_expiries_total',
          'provisioner_webhook_deliveries_total',
          'provisioner_http_request_duration_seconds',
        ]) {
          assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
        }

        // The scrape itself was observed by the onResponse hook, by route pattern and status.
        const after = await scrape();
        assert.ok(
          (sample(after, 'provisioner_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '200' }) ?? 0) >= 1,
        );
      } finally {
        await h.app.close();
        await sim.close();
        await rt.dispose();
      }
    });

    it('reports due steps and the age of the oldest one while no worker runs', async () => {
      let now = Date.now();
      const rt = await startTestRuntime(dialect, {}, { executor: false, clock: () => now });
      const sim = await startService();
      try {
        const slug = `svc-due-${process.pid}`;
        await rt.registry.register({
          slug,
          name: 'Due',
          version: '1.0.0',
          base_url: sim.url,
          provision: [{ name: 'a', type: 'http', request: { path: '/accounts' } }],
        });
        await rt.starter.start({
          tenantId: 't-due',
          serviceSlug: slug,
          kind: 'provision',
          parameters: {},
          idempotencyKey: null,
          actor: 'test',
        });
        now += 42_000;
        const text = await rt.metrics.registry.metrics();
        assert.equal(sample(text, 'provisioner_steps_due'), 1);
        assert.equal(sample(text, 'provisioner_oldest_due_step_age_seconds'), 42);
      } finally {
        await sim.close();
        await rt.dispose();
      }
    });
  });
}

describe('metrics hooks', () => {
  it('count callbacks, lease expiries, webhook outcomes and unmatched HTTP routes under fixed labels', async () => {
    const m = createMetrics({ processMetrics: false });
    m.onCallback('duplicate');
    m.onCallback('duplicate');
    m.executorHooks.onLeaseLost?.();
    m.executorHooks.onAttempt?.('poll', 'lost', 1500);
    m.webhookHooks.onDelivery?.('dead', 10);
    m.webhookHooks.onEvent?.('provisioning.workflow.rolled_back', JSON.stringify({ data: { workflow: { service_slug: 'files' } } }));
    m.webhookHooks.onEvent?.('provisioning.step.failed', JSON.stringify({ data: { workflow: { service_slug: 'files' } } }));
    m.observeHttp('GET', undefined, 404, 0.002);
    const text = await m.registry.metrics();
    assert.equal(sample(text, 'provisioner_callbacks_total', { outcome: 'duplicate' }), 2);
    assert.equal(sample(text, 'provisioner_step_lease_expiries_total'), 1);
    assert.equal(sample(text, 'provisioner_step_attempts_total', { type: 'poll', outcome: 'lost' }), 1);
    assert.equal(sample(text, 'provisioner_webhook_deliveries_total', { outcome: 'dead' }), 1);
    assert.equal(sample(text, 'provisioner_workflows_total', { service: 'files', event: 'rolled_back' }), 1);
    assert.equal(text.match(/^provisioner_workflows_total\{/gm)?.length, 1, 'step events are not workflow events');
    assert.equal(sample(text, 'provisioner_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.equal(sample(text, 'process_cpu_user_seconds_total'), null, 'process metrics off when asked');
  });
});
