import type { Kysely, Migration } from 'kysely';

/**
 * Service identity (issue 11): who changed the registry and why, the actor of each manifest version,
 * and each service's request-signing secret (sealed with the credential cipher; null until first issued).
 */
export const registryIdentity: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('services').addColumn('signing_secret', 'text').execute();
    await db.schema.alterTable('service_versions').addColumn('actor', 'text').execute();
    await db.schema.alterTable('service_versions').addColumn('reason', 'text').execute();
    await db.schema
      .createTable('registry_audit')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('slug', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('version', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('registry_audit_slug').on('registry_audit').columns(['slug', 'created_at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('registry_audit').execute();
    await db.schema.alterTable('service_versions').dropColumn('reason').execute();
    await db.schema.alterTable('service_versions').dropColumn('actor').execute();
    await db.schema.alterTable('services').dropColumn('signing_secret').execute();
  },
};
