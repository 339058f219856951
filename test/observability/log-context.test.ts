import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ADMIN, startApi, tenantAdmin, tenantReader } from '../support/api.js';
import { eventually, testDialects } from '../support/runtime.js';
import { startServiceSim } from '../support/service-sim.js';
import { createLogger } from '../../src/runtime.js';

type Line = Record<string, unknown>;

for (const dialect of testDialects()) {
  describe(`log context (${dialect})`, () => {
    it("names the request id and the caller's tenant on request lines, and the workflow, tenant, step and attempt on step lines", async () => {
      const lines: Line[] = [];
      const log = createLogger(
        'debug',
        new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(JSON.parse(chunk.toString()) as Line);
            done();
          },
        }),
      );
      const sim = await startServiceSim();
      const h = await startApi(dialect, {}, { log });
      try {
        sim.route('POST', '/accounts', { status: 201, json: { id: 'acc_1' } });
        const slug = `logged-${process.pid}`;
        await h.rt.registry.register({
          slug,
          name: 'Logged',
          version: '1.0.0',
          base_url: sim.url,
          provision: [{ name: 'create_account', type: 'http', request: { path: '/accounts' } }],
        });
        const start = await h.call({
          method: 'POST',
          url: '/api/v1/provisioning/workflows',
          as: tenantAdmin('acme'),
          payload: { service_slug: slug },
        });
        assert.equal(start.status, 201);
        const id = start.json.data.id as string;
        await eventually(
          'completion',
          async () =>
            (await h.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${id}`, as: tenantReader('acme') })).json.data.status ===
            'completed',
        );
        const adminList = await h.call({ method: 'GET', url: '/api/v1/admin/provisioning/workflows', as: ADMIN });

        const completed = lines.find((l) => l.msg === 'request completed' && l.request_id === start.headers['x-request-id']);
        assert.ok(completed, 'the request log line carries the request id');
        assert.equal(completed.tenant, 'acme');
        const adminLine = lines.find((l) => l.msg === 'request completed' && l.request_id === adminList.headers['x-request-id']);
        assert.ok(adminLine);
        assert.equal(adminLine.tenant, undefined, 'a caller without tenant_id names none');

        const step = await eventually('the step line', async () =>
          lines.find((l) => l.msg === 'step attempt ended' && l.workflow_id === id),
        );
        assert.equal(step.tenant, 'acme');
        assert.equal(step.step, 'create_account');
        assert.equal(step.attempt, 1);
        assert.equal(step.outcome, 'completed');
        assert.equal(step.level, 20, 'debug');
      } finally {
        await h.close();
        await sim.close();
      }
    });
  });
}
