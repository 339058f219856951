import { Command } from 'commander';
import { openStore } from '../store/store.js';
import { configFrom, withConfigFlags } from './options.js';

export function migrateCommand(): Command {
  return withConfigFlags(new Command('migrate').description('apply database migrations and exit'))
    .action(async (flags) => {
      const config = configFrom(flags);
      const store = openStore(config.database);
      try {
        const applied = await store.migrate();
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await store.close();
      }
    });
}
