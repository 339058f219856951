import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { registerAndStart, sharedRuntime, simFor, stepOf, tokenOf, untilWorkflow } from '../support/engine.js';
import { sendRequest, renderRequest } from '../../src/engine/step-types/request.js';
import { createOutbound } from '../../src/engine/outbound.js';
import { eventsRepo } from '../../src/store/events-repo.js';
import { toJsonColumn } from '../../src/store/columns.js';
import { newEventId } from '../../src/domain/ids.js';

/**
 * Issue 11, finding 2: a service that echoes our request in its error answer must not hand the tenant the
 * callback token (with which it could forge its own completion) or the rendered request.
 */
describe('what a failed request tells the tenant', () => {
  it('puts the answer and the rendered request in the operator-only detail, and a short stable error in error', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/buckets/:name', (req) => ({ status: 400, json: { error: 'bad request', echo: req.body } }));
    sim.route('POST', '/busy', { status: 503, body: 'overloaded' });
    const http = createOutbound({ baseUrl: sim.url, timeoutMs: 2000, signal: new AbortController().signal, headers: {} });
    const scope = {
      tenant: { id: 't1' },
      workflow: { id: 'wf_1', kind: 'provision' },
      service: { slug: 's', version: '1', base_url: sim.url },
      parameters: { name: 'acme-private' },
      steps: {},
      callback: { url: 'http://x/cb', token: 'cbt_SECRET' },
    };
    const answer = await sendRequest(
      http,
      renderRequest({ method: 'POST', path: '/buckets/{{parameters.name}}?x=1', body: { token: '{{callback.token}}' } }, scope),
    );
    assert.ok(!answer.ok);
    const outcome = answer.outcome as { kind: string; error: string; detail?: string };
    assert.equal(outcome.kind, 'failed');
    assert.equal(
      outcome.error,
      'POST /buckets/{{parameters.name}} answered 400 (not retried: fix the cause, then an operator can retry the step)',
    );
    assert.doesNotMatch(outcome.error, /cbt_|acme-private|bad request/);
    assert.match(
      outcome.detail ?? '',
      /POST \/buckets\/acme-private\?x=1 \{"token":"cbt_SECRET"\}/,
      'the operator sees the request as sent',
    );
    assert.match(outcome.detail ?? '', /→ 400: \{"error":"bad request"/, "and the service's answer");

    const busy = await sendRequest(http, { method: 'POST', target: '/busy', label: '/busy' });
    assert.ok(!busy.ok);
    assert.deepEqual([busy.outcome.kind, (busy.outcome as { error: string }).error], ['retry', 'POST /busy answered 503 (temporary)']);
  });
});

for (const dialect of testDialects()) {
  describe(`tenants never see the wire (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('keeps an echoed callback token and tenant parameters out of every field and event the tenant reads', async (t) => {
      const rt = env.rt;
      const sim = await simFor(t);
      sim.route('POST', '/buckets', (req) => ({ status: 400, json: { error: 'rejected', you_sent: req.body } }));
      const { workflowId, tenantId } = await registerAndStart(
        rt,
        {
          slug: `echo-${dialect}`,
          name: 'Echo',
          version: '1',
          base_url: sim.url,
          on_failure: 'hold',
          provision: [
            {
              name: 'bucket',
              type: 'callback',
              request: { path: '/buckets', body: { callback_token: '{{callback.token}}', plan: '{{parameters.plan}}' } },
            },
          ],
        },
        { parameters: { plan: 'plan-private-value' } },
      );
      const d = await untilWorkflow(rt, workflowId, 'failed');
      const token = tokenOf(sim.calls('POST', '/buckets')[0]);
      assert.match(stepOf(d, 'bucket').error ?? '', /^POST \/buckets answered 400 \(not retried/);

      const tenantDetail = JSON.stringify(await rt.queries.detail(workflowId, tenantId));
      const tenantEvents = JSON.stringify((await rt.queries.events(workflowId, tenantId, undefined, 1000)).items);
      for (const [what, text] of [
        ['detail', tenantDetail],
        ['events', tenantEvents],
      ]) {
        assert.ok(!text.includes(token), `the callback token is not in the tenant's ${what}`);
        assert.ok(!text.includes('rejected'), `the service's answer is not in the tenant's ${what}`);
        assert.ok(!text.includes('"detail"'), `no operator detail in the tenant's ${what}`);
      }
      assert.ok(!JSON.stringify(stepOf(d, 'bucket')).includes('plan-private-value'), 'the rendered request is not in the step');
    });

    it("serves an event's data.detail to operators and strips it from the tenant's event listing", async (t) => {
      const rt = env.rt;
      const sim = await simFor(t);
      sim.route('POST', '/a', { json: {} });
      const { workflowId, tenantId } = await registerAndStart(rt, {
        slug: `detail-${dialect}`,
        name: 'D',
        version: '1',
        base_url: sim.url,
        provision: [{ name: 'a', type: 'http', request: { path: '/a' } }],
      });
      await untilWorkflow(rt, workflowId, 'completed');
      await eventsRepo.insertMany(rt.store.db, [
        {
          id: newEventId(),
          workflow_id: workflowId,
          tenant_id: tenantId,
          type: 'step.retry',
          step_name: 'a',
          attempt: 1,
          actor: null,
          reason: null,
          data: toJsonColumn({ error: 'POST /a answered 500 (temporary)', detail: 'POST /a {"token":"cbt_x"}\n→ 500: boom' }),
          created_at: Date.now(),
        },
      ]);
      const admin = (await rt.queries.events(workflowId, null, undefined, 1000)).items.find((e) => e.type === 'step.retry');
      const tenant = (await rt.queries.events(workflowId, tenantId, undefined, 1000)).items.find((e) => e.type === 'step.retry');
      assert.match(String((admin?.data as { detail?: string } | undefined)?.detail), /boom/);
      assert.deepEqual(tenant?.data, { error: 'POST /a answered 500 (temporary)' });
    });
  });
}
