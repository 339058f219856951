import type { Kysely, Migration } from 'kysely';

/**
 * Webhook deliveries get a lease owner, so a dispatcher that lost its lease (it stalled past expiry and
 * another replica took the delivery) cannot record a result: every write after a claim is fenced on it.
 * `last_attempt_at` is for operators reading the dead list; the status index serves that list.
 */
export const webhookLeases: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('webhook_deliveries').addColumn('lease_owner', 'text').execute();
    await db.schema.alterTable('webhook_deliveries').addColumn('last_attempt_at', 'bigint').execute();
    await db.schema.createIndex('webhook_deliveries_status').on('webhook_deliveries').columns(['status', 'id']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('webhook_deliveries_status').execute();
    await db.schema.alterTable('webhook_deliveries').dropColumn('last_attempt_at').execute();
    await db.schema.alterTable('webhook_deliveries').dropColumn('lease_owner').execute();
  },
};
