import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, NotFound } from '../../src/domain/errors.js';
import { testDialects } from '../support/runtime.js';
import type { TestRuntime } from '../support/runtime.js';
import { manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilWorkflow, type Started } from '../support/engine.js';

function deprovision(rt: TestRuntime, p: Started) {
  return rt.starter.start({
    tenantId: p.tenantId,
    serviceSlug: p.slug,
    kind: 'deprovision',
    parameters: {},
    idempotencyKey: null,
    actor: 'test',
  });
}

for (const dialect of testDialects()) {
  describe(`deprovision (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it("runs the manifest's deprovision steps with the provisioning's outputs under provision.steps", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc-9', credentials: { pw: 'x' } } });
      sim.route('POST', '/buckets', { json: { id: 'b-3' } });
      sim.route('DELETE', '/buckets/:id', { status: 204 });
      sim.route('DELETE', '/accounts/:id', { status: 204 });
      const m = manifestFor(
        sim,
        [
          { name: 'account', type: 'http', request: { path: '/accounts' } },
          { name: 'bucket', type: 'http', depends_on: ['account'], request: { path: '/buckets' } },
        ],
        {
          deprovision: [
            { name: 'delete_bucket', type: 'http', request: { method: 'DELETE', path: '/buckets/{{provision.steps.bucket.output.id}}' } },
            {
              name: 'delete_account',
              type: 'http',
              depends_on: ['delete_bucket'],
              request: { method: 'DELETE', path: '/accounts/{{provision.steps.account.output.id}}' },
            },
          ],
        },
      );
      const p = await registerAndStart(rt, m);
      await untilWorkflow(rt, p.workflowId, 'completed');

      const { workflowId } = await deprovision(rt, p);
      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.equal(d.kind, 'deprovision');
      assert.deepEqual(
        d.steps.map((s) => s.name),
        ['delete_bucket', 'delete_account'],
      );
      assert.deepEqual(
        sim.calls('DELETE').map((r) => r.path),
        ['/buckets/b-3', '/accounts/acc-9'],
      );
      const status = await rt.queries.status(p.tenantId, p.slug);
      assert.deepEqual([status.workflow_id, status.kind, status.status], [workflowId, 'deprovision', 'not_provisioned']);
      await assert.rejects(rt.queries.revealCredentials(p.tenantId, p.slug, 'test'), NotFound);
      await assert.rejects(deprovision(rt, p), Conflict, 'a second deprovision has nothing left to remove');
    });

    it('by default runs the compensations of the completed provision steps in reverse dependency order', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc-1' } });
      sim.route('POST', '/settings', { json: {} });
      sim.route('POST', '/buckets', { json: { id: 'b-1' } });
      sim.route('POST', '/dns', { json: { name: 'x.example' } });
      sim.route('DELETE', '/accounts/:id', { status: 204 });
      sim.route('DELETE', '/buckets/:id', { status: 204, delayMs: 150 });
      sim.route('DELETE', '/dns/:name', { status: 204 });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        { name: 'settings', type: 'http', depends_on: ['account'], request: { path: '/settings' } },
        {
          name: 'bucket',
          type: 'http',
          depends_on: ['settings'],
          request: { path: '/buckets' },
          compensate: { method: 'DELETE', path: '/buckets/{{steps.bucket.output.id}}' },
        },
        {
          name: 'dns',
          type: 'http',
          depends_on: ['account'],
          request: { path: '/dns' },
          compensate: { method: 'DELETE', path: '/dns/{{steps.dns.output.name}}' },
        },
      ]);
      const p = await registerAndStart(rt, m);
      await untilWorkflow(rt, p.workflowId, 'completed');

      const { workflowId } = await deprovision(rt, p);
      const d = await untilWorkflow(rt, workflowId, 'completed');
      assert.deepEqual(d.steps.map((s) => s.name).sort(), ['account', 'bucket', 'dns']);
      assert.deepEqual(stepOf(d, 'account').depends_on.sort(), ['bucket', 'dns']);
      const deletes = sim.calls('DELETE');
      assert.deepEqual(deletes.map((r) => r.path).sort(), ['/accounts/acc-1', '/buckets/b-1', '/dns/x.example']);
      const at = (path: string) => deletes.find((r) => r.path === path)?.at ?? NaN;
      assert.ok(at('/accounts/acc-1') >= at('/buckets/b-1') + 150, 'account is removed only after the bucket under it');
      assert.ok(at('/accounts/acc-1') >= at('/dns/x.example'));
      assert.deepEqual(
        deletes.map((r) => r.headers['x-provisioner-workflow']),
        [workflowId, workflowId, workflowId],
      );
    });

    it('refuses to deprovision what was never provisioned', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/fail' } }]);
      await rt.registry.register(m);
      await assert.rejects(
        rt.starter.start({
          tenantId: 'nobody',
          serviceSlug: m.slug,
          kind: 'deprovision',
          parameters: {},
          idempotencyKey: null,
          actor: 'test',
        }),
        (e: unknown) => e instanceof Conflict && /has no provisioned/.test(e.message),
      );
      const rolledBack = await registerAndStart(rt, m, { register: false });
      await untilWorkflow(rt, rolledBack.workflowId, 'rolled_back');
      await assert.rejects(deprovision(rt, rolledBack), Conflict);
    });
  });
}
