import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { Db } from './db-types.js';
import { LocalWakeups, type StoreDialect } from './dialect.js';

export function createSqliteDialect(path: string): StoreDialect {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  // NORMAL in WAL mode keeps every commit atomic and durable against a process crash; only a power
  // loss can drop the last transactions. A busy timeout lets a second process (CLI, crash test) wait.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  const db = new Kysely<Db>({ dialect: new SqliteDialect({ database: raw }) });
  const wakeups = new LocalWakeups();
  return {
    name: 'sqlite',
    db,
    claimLockClause: '',
    // One process migrates at a time anyway: SQLite takes a write lock for the migration transaction.
    withMigrationLock: (fn) => fn(),
    wakeups: () => wakeups,
    async ping() { await sql`select 1`.execute(db); },
    async close() { await wakeups.close(); await db.destroy(); },
    isConnectionError: () => false,
    isUniqueViolation: (e) => e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('SQLITE_CONSTRAINT'),
  };
}
