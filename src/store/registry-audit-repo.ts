import type { Selectable } from 'kysely';
import type { RegistryAuditTable } from './db-types.js';
import type { Queryable } from './queryable.js';

export type RegistryAuditRow = Selectable<RegistryAuditTable>;

/** Who changed the registry, how and why (issue 11): one row per change, never updated. */
export const registryAuditRepo = {
  async insert(db: Queryable, row: RegistryAuditRow): Promise<void> {
    await db.insertInto('registry_audit').values(row).execute();
  },

  async listForService(db: Queryable, slug: string, limit = 500): Promise<RegistryAuditRow[]> {
    return db
      .selectFrom('registry_audit')
      .selectAll()
      .where('slug', '=', slug)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  },
};
