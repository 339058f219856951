import type { Kysely, Migration } from 'kysely';

/**
 * When an operator cancels with compensation, the workflow rolls back first and then ends `cancelled`
 * (not `rolled_back`): this records that the rollback was a cancel.
 */
export const workflowCancelRequested: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('workflows').addColumn('cancel_requested_at', 'bigint').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('workflows').dropColumn('cancel_requested_at').execute();
  },
};
