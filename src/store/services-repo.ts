import type { Selectable } from 'kysely';
import type { ServicesTable } from './db-types.js';
import type { Executor } from './executor.js';

export type ServiceRow = Selectable<ServicesTable>;

export const servicesRepo = {
  async get(db: Executor, slug: string): Promise<ServiceRow | null> {
    return (await db.selectFrom('services').selectAll().where('slug', '=', slug).executeTakeFirst()) ?? null;
  },

  async list(db: Executor): Promise<ServiceRow[]> {
    return db.selectFrom('services').selectAll().orderBy('slug').execute();
  },

  async insert(db: Executor, row: ServiceRow) {
    await db.insertInto('services').values(row).execute();
  },

  async update(db: Executor, slug: string, patch: Partial<ServiceRow>) {
    await db.updateTable('services').set(patch).where('slug', '=', slug).execute();
  },

  async delete(db: Executor, slug: string): Promise<boolean> {
    const r = await db.deleteFrom('services').where('slug', '=', slug).executeTakeFirst();
    return r.numDeletedRows === 1n;
  },

  async insertVersion(db: Executor, row: { id: string; slug: string; version: string; manifest: string; created_at: number }) {
    await db.insertInto('service_versions').values(row).execute();
  },

  async listVersions(db: Executor, slug: string) {
    return db.selectFrom('service_versions').select(['version', 'created_at']).where('slug', '=', slug).orderBy('created_at').execute();
  },
};
