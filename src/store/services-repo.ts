import type { Selectable } from 'kysely';
import type { ServicesTable } from './db-types.js';
import type { Queryable } from './queryable.js';

export type ServiceRow = Selectable<ServicesTable>;

export const servicesRepo = {
  async get(db: Queryable, slug: string): Promise<ServiceRow | null> {
    return (await db.selectFrom('services').selectAll().where('slug', '=', slug).executeTakeFirst()) ?? null;
  },

  async list(db: Queryable): Promise<ServiceRow[]> {
    return db.selectFrom('services').selectAll().orderBy('slug').execute();
  },

  async insert(db: Queryable, row: ServiceRow) {
    await db.insertInto('services').values(row).execute();
  },

  async update(db: Queryable, slug: string, patch: Partial<ServiceRow>) {
    await db.updateTable('services').set(patch).where('slug', '=', slug).execute();
  },

  async delete(db: Queryable, slug: string): Promise<boolean> {
    const r = await db.deleteFrom('services').where('slug', '=', slug).executeTakeFirst();
    return r.numDeletedRows === 1n;
  },

  async insertVersion(
    db: Queryable,
    row: { id: string; slug: string; version: string; manifest: string; created_at: number; actor?: string | null; reason?: string | null },
  ) {
    await db
      .insertInto('service_versions')
      .values({ actor: null, reason: null, ...row })
      .execute();
  },

  async listVersions(db: Queryable, slug: string) {
    return db
      .selectFrom('service_versions')
      .select(['id', 'version', 'created_at', 'actor', 'reason'])
      .where('slug', '=', slug)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  },

  /** The sealed signing secret (credential cipher envelope), or null when none was issued. */
  async signingSecretSealed(db: Queryable, slug: string): Promise<string | null> {
    const row = await db.selectFrom('services').select('signing_secret').where('slug', '=', slug).executeTakeFirst();
    return row?.signing_secret ?? null;
  },

  async setSigningSecret(db: Queryable, slug: string, sealed: string): Promise<boolean> {
    const r = await db.updateTable('services').set({ signing_secret: sealed }).where('slug', '=', slug).executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** Replaces a sealed secret only if it is still `from` (rotation while serving). */
  async replaceSigningSecret(db: Queryable, slug: string, from: string, to: string): Promise<boolean> {
    const r = await db
      .updateTable('services')
      .set({ signing_secret: to })
      .where('slug', '=', slug)
      .where('signing_secret', '=', from)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** Every sealed signing secret (key rotation; the services table is small). */
  async listSigningSecrets(db: Queryable): Promise<{ slug: string; signing_secret: string }[]> {
    const rows = await db.selectFrom('services').select(['slug', 'signing_secret']).where('signing_secret', 'is not', null).execute();
    return rows.map((r) => ({ slug: r.slug, signing_secret: r.signing_secret as string }));
  },
};
