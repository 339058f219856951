import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../support/runtime.js';
import { manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilWorkflow } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`request templates (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('renders ancestor outputs, parameters, tenant, workflow and service into path, query, headers and body', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc-42', region: 'eu', limits: { files: 10 } } });
      sim.route('POST', '/accounts/:id/quota', { json: { ok: true } });
      sim.route('PUT', '/accounts/:id/buckets/:bucket', { json: { bucket: 'b1' } });
      const m = manifestFor(sim, [
        {
          name: 'create_account',
          type: 'http',
          request: { path: '/accounts', body: { tenant: '{{tenant.id}}', plan: '{{parameters.plan}}' } },
        },
        {
          name: 'set_quota',
          type: 'http',
          depends_on: ['create_account'],
          request: {
            path: '/accounts/{{steps.create_account.output.id}}/quota',
            body: { files: '{{steps.create_account.output.limits.files}}' },
          },
        },
        {
          name: 'create_bucket',
          type: 'http',
          depends_on: ['set_quota'],
          request: {
            method: 'PUT',
            path: '/accounts/{{steps.create_account.output.id}}/buckets/{{parameters.bucket}}',
            query: { region: '{{steps.create_account.output.region}}' },
            headers: { 'x-plan': '{{parameters.plan}}' },
            body: {
              size_gb: '{{parameters.size_gb}}',
              tags: '{{parameters.tags}}',
              label: '{{tenant.id}}/{{parameters.bucket}}',
              workflow: '{{workflow.id}}',
              service: '{{service.slug}}',
              account: '{{steps.create_account.output}}',
            },
          },
        },
      ]);
      const parameters = { plan: 'pro', bucket: 'photos', size_gb: 50, tags: ['a', 'b'] };
      const { workflowId, tenantId, slug } = await registerAndStart(rt, m, { parameters });
      await untilWorkflow(rt, workflowId, 'completed');

      assert.deepEqual(sim.calls('POST', '/accounts')[0].body, { tenant: tenantId, plan: 'pro' });
      assert.deepEqual(sim.calls('POST', '/accounts/acc-42/quota')[0].body, { files: 10 }, 'a whole-value template keeps its JSON type');
      const [put] = sim.calls('PUT', '/accounts/acc-42/buckets/photos');
      assert.ok(put, 'the path was rendered from the grandparent output and a parameter');
      assert.deepEqual(put.query, { region: 'eu' });
      assert.equal(put.headers['x-plan'], 'pro');
      assert.deepEqual(put.body, {
        size_gb: 50,
        tags: ['a', 'b'],
        label: `${tenantId}/photos`,
        workflow: workflowId,
        service: slug,
        account: { id: 'acc-42', region: 'eu', limits: { files: 10 } },
      });
    });

    it('fails a step whose template cannot render, at once and without sending a request, with an error naming the template', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc-1' } });
      sim.route('DELETE', '/accounts/:id', { status: 204 });
      sim.route('POST', '/buckets', { json: { id: 'b' } });
      const m = manifestFor(sim, [
        {
          name: 'create_account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.create_account.output.id}}' },
        },
        {
          name: 'create_bucket',
          type: 'http',
          depends_on: ['create_account'],
          retry: { max_attempts: 5, initial_s: 0.05 },
          request: { path: '/buckets', body: { size: '{{parameters.size_gb}}' } },
        },
      ]);
      const { workflowId } = await registerAndStart(rt, m, { parameters: {} });

      const d = await untilWorkflow(rt, workflowId, 'rolled_back');
      const bucket = stepOf(d, 'create_bucket');
      assert.equal(bucket.status, 'failed');
      assert.equal(bucket.attempt, 1, 'a template that cannot render is not retried');
      assert.match(bucket.error ?? '', /\{\{parameters\.size_gb\}\}/);
      assert.match(bucket.error ?? '', /"size_gb" is missing in parameters/);
      assert.match(d.error ?? '', /step create_bucket failed: template \{\{parameters\.size_gb\}\}/);
      assert.equal(sim.calls('POST', '/buckets').length, 0);
      assert.equal(sim.calls('DELETE', '/accounts/acc-1').length, 1);
    });
  });
}
