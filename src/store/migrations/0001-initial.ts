import { sql, type Kysely, type Migration } from 'kysely';

/** Never edit a released migration: add a new one. Types chosen to mean the same on SQLite and PostgreSQL. */
export const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('services')
      .addColumn('slug', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('base_url', 'text', (c) => c.notNull())
      .addColumn('manifest', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_detail', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('last_heartbeat_at', 'bigint')
      .execute();

    await db.schema
      .createTable('service_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('slug', 'text', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('manifest', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('service_versions_slug').on('service_versions').columns(['slug', 'created_at']).execute();

    await db.schema
      .createTable('workflows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('service_slug', 'text', (c) => c.notNull())
      .addColumn('service_version', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('parameters', 'text', (c) => c.notNull())
      .addColumn('endpoint', 'text')
      .addColumn('credentials', 'text')
      .addColumn('error', 'text')
      .addColumn('on_failure', 'text', (c) => c.notNull())
      .addColumn('base_url', 'text', (c) => c.notNull())
      .addColumn('idempotency_key', 'text')
      .addColumn('provision_workflow_id', 'text')
      .addColumn('steps_total', 'integer', (c) => c.notNull())
      .addColumn('steps_completed', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('started_at', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('completed_at', 'bigint')
      .addColumn('last_progress_at', 'bigint', (c) => c.notNull())
      .execute();
    // Ids are ULIDs, so `id` order is creation order: lists page newest-first on these indexes alone.
    await db.schema.createIndex('workflows_tenant_id').on('workflows').columns(['tenant_id', 'id']).execute();
    await db.schema.createIndex('workflows_tenant_service').on('workflows').columns(['tenant_id', 'service_slug', 'id']).execute();
    await db.schema.createIndex('workflows_service').on('workflows').columns(['service_slug', 'status']).execute();
    await db.schema.createIndex('workflows_status').on('workflows').columns(['status', 'last_progress_at']).execute();
    await db.schema.createIndex('workflows_idempotency').on('workflows').columns(['tenant_id', 'idempotency_key']).unique().execute();
    // At most one active workflow per tenant and service: the database, not a read-then-write, refuses the second.
    await db.schema
      .createIndex('workflows_one_active')
      .on('workflows')
      .columns(['tenant_id', 'service_slug'])
      .unique()
      .where(sql<boolean>`status in ('pending', 'running', 'rolling_back')`)
      .execute();

    await db.schema
      .createTable('steps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workflow_id', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('depends_on', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('compensation_attempt', 'integer', (c) => c.notNull())
      .addColumn('retry_count', 'integer', (c) => c.notNull())
      .addColumn('max_attempts', 'integer', (c) => c.notNull())
      .addColumn('timeout_ms', 'integer', (c) => c.notNull())
      .addColumn('waiting_reason', 'text')
      .addColumn('next_run_at', 'bigint')
      .addColumn('deadline_at', 'bigint')
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('callback_token_hash', 'text')
      .addColumn('report_hash', 'text')
      .addColumn('early_report', 'text')
      .addColumn('progress', 'text')
      .addColumn('poll_count', 'integer', (c) => c.notNull())
      .addColumn('first_poll_at', 'bigint')
      .addColumn('started_at', 'bigint')
      .addColumn('completed_at', 'bigint')
      .addColumn('error', 'text')
      .addColumn('output', 'text')
      .addColumn('endpoint', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('steps_workflow').on('steps').columns(['workflow_id', 'position']).execute();
    await db.schema.createIndex('steps_workflow_name').on('steps').columns(['workflow_id', 'name']).unique().execute();
    await db.schema
      .createIndex('steps_token')
      .on('steps')
      .column('callback_token_hash')
      .unique()
      .where('callback_token_hash', 'is not', null)
      .execute();
    // The claim loop's only access path: rows with something to do soon.
    await db.schema.createIndex('steps_due').on('steps').columns(['next_run_at']).where('next_run_at', 'is not', null).execute();

    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workflow_id', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('step_name', 'text')
      .addColumn('attempt', 'integer')
      .addColumn('actor', 'text')
      .addColumn('reason', 'text')
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_workflow').on('events').columns(['workflow_id', 'id']).execute();

    await db.schema
      .createTable('outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('topic', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('dispatched_at', 'bigint')
      .execute();
    await db.schema.createIndex('outbox_pending').on('outbox').columns(['created_at']).where(sql<boolean>`dispatched_at is null`).execute();

    await db.schema
      .createTable('webhook_subscriptions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('target_url', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('topics', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('subscription_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('last_status_code', 'integer')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('delivered_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_due')
      .on('webhook_deliveries')
      .columns(['next_attempt_at'])
      .where('next_attempt_at', 'is not', null)
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_unique')
      .on('webhook_deliveries')
      .columns(['subscription_id', 'event_id'])
      .unique()
      .execute();
  },
  async down() {
    throw new Error('the initial migration cannot be undone; restore a backup instead');
  },
};
