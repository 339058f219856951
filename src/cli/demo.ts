import { Command } from 'commander';
import { configFrom, withConfigFlags } from './options.js';
import { renderWorkflow } from './render.js';

/**
 * The newcomer's first run: the server on the embedded database, the example Files service
 * simulated on :9100, and one demo tenant provisioned while you watch.
 */
export function demoCommand(): Command {
  return withConfigFlags(new Command('demo').description('serve, start the example service simulator, and provision a demo tenant'))
    .option('--exit', 'exit once the demo workflow has ended')
    .option('--tenant <id>', 'demo tenant id', `demo-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`)
    .action(async (o) => {
      const [{ startFilesService }, { handleSignals, printBanner, startServer }] = await Promise.all([
        import('../../examples/simulator/files-service.js'),
        import('./serve.js'),
      ]);
      const files = await startFilesService({ port: 9100, callbackDelayMs: 500, pollsUntilReady: 2 });
      const server = await startServer(configFrom({ servicesDir: 'examples/services', ...o }));
      await printBanner(server);
      const rt = server.runtime;
      const { workflowId } = await rt.starter.start({
        tenantId: o.tenant,
        serviceSlug: 'files',
        kind: 'provision',
        parameters: {},
        idempotencyKey: null,
        actor: 'demo',
      });
      process.stdout.write(`\nDemo: provisioning "files" for tenant ${o.tenant} (workflow ${workflowId})\n`);
      let last = '';
      for (;;) {
        const d = await rt.queries.detail(workflowId, null);
        const line = d.steps.map((s) => `${s.name}=${s.status}`).join('  ');
        if (line !== last) {
          process.stdout.write(`  ${line}\n`);
          last = line;
        }
        if (['completed', 'failed', 'rolled_back', 'cancelled'].includes(d.status)) {
          process.stdout.write(`\n${renderWorkflow(d)}\n\n`);
          process.stdout.write(
            `  Open it: ${rt.config.publicUrl}/ui/workflows/${workflowId} (sign in at /ui/login with the token above)\n`,
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      if (o.exit) {
        await server.stop(1000);
        await files.close();
        return;
      }
      handleSignals({
        ...server,
        stop: async (g) => {
          await server.stop(g);
          await files.close();
        },
      });
    });
}
