import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { Db } from './db-types.js';
import { LocalWakeups, type StoreDialect } from './dialect.js';
import { createSqliteHotPath } from './hot-path-sqlite.js';
import { startSqliteCheckpointer } from './sqlite-checkpointer.js';

export function createSqliteDialect(path: string): StoreDialect {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  // NORMAL in WAL mode keeps every commit atomic and durable against a process crash; only a power
  // loss can drop the last transactions. A busy timeout lets a second process (CLI, crash test) wait.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  // Checkpoints run on a thread of their own; this connection checkpoints only if that one falls far behind.
  const checkpointer = path === ':memory:' ? null : startSqliteCheckpointer(path);
  if (checkpointer) raw.pragma('wal_autocheckpoint = 10000');
  const db = new Kysely<Db>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  const wakeups = new LocalWakeups();
  return {
    name: 'sqlite',
    db,
    hot: createSqliteHotPath(raw, db),
    claimLockClause: '',
    // One process migrates at a time anyway: SQLite takes a write lock for the migration transaction.
    withMigrationLock: (fn) => fn(),
    wakeups: () => wakeups,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await wakeups.close();
      await checkpointer?.stop();
      await db.destroy();
    },
    isConnectionError: () => false,
    isUniqueViolation: (e) => e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('SQLITE_CONSTRAINT'),
  };
}

/**
 * Kysely prepares every query anew; compiling the SQL was ~20 % of the executor's SQLite time in the
 * throughput bench. Statements are reused by their text. Kysely runs one query at a time per
 * connection, so a cached statement is never in use twice; SQLite re-prepares it after a schema change.
 */
function withStatementCache(raw: Database.Database, max = 500) {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => raw.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        if (cache.size >= max) cache.clear(); // queries with variable IN-lists must not grow it forever
        stmt = raw.prepare(text);
        cache.set(text, stmt);
      }
      return stmt;
    },
  };
}
