import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Process liveness: each executor heartbeats its row; a process whose heartbeat stopped has its leases
 * taken over within seconds, instead of when each lease would have expired (request timeout + grace).
 */
export const workers: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('workers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
      .execute();
    // The takeover finds a dead process's leases by the owner prefix (`<worker id>:<claim>`).
    await db.schema.createIndex('steps_lease_owner').on('steps').column('lease_owner').where(sql<boolean>`lease_owner is not null`).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('steps_lease_owner').execute();
    await db.schema.dropTable('workers').execute();
  },
};
