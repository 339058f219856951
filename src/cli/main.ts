import { Command } from 'commander';
import { migrateCommand } from './migrate.js';
import { tokenCommand } from './token.js';
import { servicesCommand } from './services.js';
import { workflowsCommand } from './workflows.js';
import { demoCommand } from './demo.js';
import { keysCommand } from './keys.js';
import { withConfigFlags } from './options.js';

// Every command loads what it needs inside its action, so `provisioner token` or `services validate`
// start without loading the HTTP server, the database drivers or the engine.
const program = new Command('provisioner').description('Multi-tenant service-provisioning workflow engine').showHelpAfterError();

// serve.ts imports the whole server at load time; it is loaded only when it runs.
program.addCommand(
  process.argv[2] === 'serve'
    ? (await import('./serve.js')).serveCommand()
    : withConfigFlags(new Command('serve').description('run the API and the executor')),
);
program.addCommand(migrateCommand());
program.addCommand(tokenCommand());
program.addCommand(servicesCommand());
program.addCommand(workflowsCommand());
program.addCommand(demoCommand());
program.addCommand(keysCommand());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
