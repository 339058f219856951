import { Command, Option } from 'commander';
import { serveCommand } from './serve.js';
import { migrateCommand } from './migrate.js';
import { tokenCommand } from './token.js';
import { servicesCommand } from './services.js';
import { workflowsCommand } from './workflows.js';
import { demoCommand } from './demo.js';
import { keysCommand } from './keys.js';

const program = new Command('provisioner')
  .description('Multi-tenant service-provisioning workflow engine')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(migrateCommand());
program.addCommand(tokenCommand());
program.addCommand(servicesCommand());
program.addCommand(workflowsCommand());
program.addCommand(demoCommand());
program.addCommand(keysCommand());
void Option;

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
