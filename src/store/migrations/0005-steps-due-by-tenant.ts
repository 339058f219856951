import { sql, type Kysely, type Migration } from 'kysely';

/** The claim's access path: per tenant, its due steps oldest first (round-robin claims, two seeks each). */
export const stepsDueByTenant: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createIndex('steps_due_tenant')
      .on('steps')
      .columns(['tenant_id', 'next_run_at', 'lease_expires_at'])
      .where(sql<boolean>`next_run_at is not null`)
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('steps_due_tenant').execute();
  },
};
