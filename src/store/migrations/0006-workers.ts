import type { Kysely, Migration } from 'kysely';

/**
 * Process liveness: each executor heartbeats its row; a process whose heartbeat stopped has its leases
 * taken over within seconds, instead of when each lease would have expired (request timeout + grace).
 */
export const workers: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('workers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
      .execute();
    // No index on steps.lease_owner: every claim and every outcome would maintain it, for a takeover that
    // runs only when a process died (it reads the steps whose lease is still running, a small set).
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('workers').execute();
  },
};
