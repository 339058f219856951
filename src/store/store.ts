import { Migrator, type Kysely, type Transaction } from 'kysely';
import type { DatabaseConfig } from '../config.js';
import type { Db } from './db-types.js';
import type { StoreDialect } from './dialect.js';
import { createSqliteDialect } from './dialect-sqlite.js';
import { createPostgresDialect } from './dialect-postgres.js';
import { migrationProvider } from './migrations/index.js';

export interface Store {
  readonly dialect: StoreDialect;
  readonly db: Kysely<Db>;
  transaction<T>(fn: (tx: Transaction<Db>) => Promise<T>): Promise<T>;
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}

export function openStore(config: DatabaseConfig, log?: (msg: string, err?: unknown) => void): Store {
  const dialect = config.kind === 'sqlite' ? createSqliteDialect(config.path) : createPostgresDialect(config.url, config.poolSize, log);
  const db = dialect.db;
  return {
    dialect,
    db,
    transaction: (fn) => db.transaction().execute(fn),
    migrate: () => dialect.withMigrationLock(() => migrateToLatest(db)),
    close: () => dialect.close(),
  };
}

async function migrateToLatest(db: Kysely<Db>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const known = new Set(Object.keys(await migrationProvider.getMigrations()));
  const applied = await migrator.getMigrations();
  const unknown = applied.filter((m) => m.executedAt && !known.has(m.name));
  if (unknown.length > 0) {
    // graphile-worker's rule: never run against a schema newer than this code understands.
    throw new Error(
      `the database has migrations this version does not know (${unknown.map((m) => m.name).join(', ')}); ` +
        'run a newer Provisioner, or restore a backup taken before the upgrade',
    );
  }
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
