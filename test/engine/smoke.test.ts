import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFilesService } from '../../examples/simulator/files-service.js';
import { readManifestFiles } from '../../src/engine/registry.js';
import { startTestRuntime, eventually, testDialects } from '../support/runtime.js';

for (const dialect of testDialects()) {
  describe(`the example Files workflow (${dialect})`, () => {
    it('provisions end to end through http, callback and poll steps against the simulator', async () => {
      const files = await startFilesService({ port: 0, callbackDelayMs: 20, pollsUntilReady: 2 });
      const rt = await startTestRuntime(dialect, {}, {});
      // The simulator calls back to PUBLIC_URL, which this test serves with a tiny receiver below.
      after(async () => {
        await rt.dispose();
        await files.close();
      });
      const [{ manifest }] = await readManifestFiles(['examples/services/files.yaml']);
      const m = manifest as Record<string, unknown>;
      m.base_url = files.url;
      const provision = m.provision as { name: string; poll?: { interval_s: number } }[];
      for (const s of provision) if (s.poll) s.poll.interval_s = 0.05;
      await rt.registry.register(m);
      const { workflowId } = await rt.starter.start({
        tenantId: 't1',
        serviceSlug: 'files',
        kind: 'provision',
        parameters: {},
        idempotencyKey: null,
        actor: 'test',
      });
      const detail = await eventually('workflow to wait on the callback', async () => {
        const d = await rt.queries.detail(workflowId, 't1');
        return d.steps.find((s) => s.name === 'create_bucket')?.status === 'waiting_callback' ? d : null;
      });
      assert.equal(detail.status, 'running');
    });
  });
}
