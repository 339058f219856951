import { Command } from 'commander';
import { configFrom, withDatabaseFlags } from './options.js';

export function migrateCommand(): Command {
  return withDatabaseFlags(new Command('migrate').description('apply database migrations and exit')).action(async (flags) => {
    const config = configFrom(flags);
    const { openStore } = await import('../store/store.js');
    const store = openStore(config.database);
    try {
      const applied = await store.migrate();
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    } finally {
      await store.close();
    }
  });
}
