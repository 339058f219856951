import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Fewer index entries per step. A row version that changes an indexed column adds an entry to every
 * index of its table, and on PostgreSQL cannot be a HOT update; `steps` is written two or three times per
 * step and its workflow once per batch.
 * - `steps_workflow` (workflow_id, position) repeated `steps_workflow_name`'s leading column: a
 *   workflow's few steps are found by that one and sorted by position in memory.
 * - `steps_due_tenant` without `lease_expires_at`: a claim, which sets the lease, changes no indexed
 *   column; the claim checks the lease on the few due rows that have one.
 * - `workflows_status` on (status, id) instead of (status, last_progress_at): every step moved
 *   `last_progress_at`, so every workflow update rewrote its seven index entries. The stuck list reads the
 *   open workflows (a small set) and sorts them; lists by status page by id, which this index now serves.
 * - On PostgreSQL both tables keep a fifth of each page free, so an updated row fits beside the old one.
 */
export const hotUpdates: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.dropIndex('steps_workflow').execute();
    await db.schema.dropIndex('steps_due_tenant').execute();
    await db.schema
      .createIndex('steps_due_tenant')
      .on('steps')
      .columns(['tenant_id', 'next_run_at'])
      .where(sql<boolean>`next_run_at is not null`)
      .execute();
    await db.schema.dropIndex('workflows_status').execute();
    await db.schema.createIndex('workflows_status').on('workflows').columns(['status', 'id']).execute();
    if (await isPostgres(db)) {
      await sql`alter table steps set (fillfactor = 80)`.execute(db);
      await sql`alter table workflows set (fillfactor = 80)`.execute(db);
    }
  },
  async down(db: Kysely<unknown>) {
    if (await isPostgres(db)) {
      await sql`alter table steps reset (fillfactor)`.execute(db);
      await sql`alter table workflows reset (fillfactor)`.execute(db);
    }
    await db.schema.dropIndex('workflows_status').execute();
    await db.schema.createIndex('workflows_status').on('workflows').columns(['status', 'last_progress_at']).execute();
    await db.schema.dropIndex('steps_due_tenant').execute();
    await db.schema
      .createIndex('steps_due_tenant')
      .on('steps')
      .columns(['tenant_id', 'next_run_at', 'lease_expires_at'])
      .where(sql<boolean>`next_run_at is not null`)
      .execute();
    await db.schema.createIndex('steps_workflow').on('steps').columns(['workflow_id', 'position']).execute();
  },
};

/** pg_backend_pid() exists only on PostgreSQL; on SQLite the probe fails and changes nothing. */
async function isPostgres(db: Kysely<unknown>): Promise<boolean> {
  return sql`select pg_backend_pid()`.execute(db).then(
    () => true,
    () => false,
  );
}
