import { sql, type Kysely, type Migration } from 'kysely';

/**
 * ScaiControl's subscription events as received (issue 14): each with what became of it. `event_id` and
 * `idempotency_key` are unique, so a repeat finds the first; `id` (ULID) orders the operators' list.
 */
export const subscriptionEvents: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('subscription_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull().unique())
      .addColumn('idempotency_key', 'text')
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('event_version', 'text')
      .addColumn('source', 'text')
      .addColumn('occurred_at', 'bigint', (c) => c.notNull())
      .addColumn('subscription_id', 'text')
      .addColumn('tenant_id', 'text')
      .addColumn('service_slug', 'text')
      .addColumn('action', 'text')
      .addColumn('parameters', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('workflow_id', 'text')
      .addColumn('blocked_by', 'text')
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('subscription_events_idempotency')
      .on('subscription_events')
      .column('idempotency_key')
      .unique()
      .where(sql<boolean>`idempotency_key is not null`)
      .execute();
    // The order check: the newest applied or queued event of a subscription.
    await db.schema
      .createIndex('subscription_events_subscription')
      .on('subscription_events')
      .columns(['subscription_id', 'occurred_at'])
      .execute();
    // The queue: per tenant × service, the queued events oldest first.
    await db.schema
      .createIndex('subscription_events_queued')
      .on('subscription_events')
      .columns(['tenant_id', 'service_slug', 'occurred_at'])
      .where(sql<boolean>`status = 'queued'`)
      .execute();
    await db.schema.createIndex('subscription_events_tenant').on('subscription_events').columns(['tenant_id', 'id']).execute();
    await db.schema.createIndex('subscription_events_status').on('subscription_events').columns(['status', 'id']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('subscription_events').execute();
  },
};
