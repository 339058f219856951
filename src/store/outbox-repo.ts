import type { Selectable } from 'kysely';
import type { OutboxTable } from './db-types.js';
import type { Queryable } from './queryable.js';

export type OutboxRow = Selectable<OutboxTable>;

export const outboxRepo = {
  /** Written in the same transaction as the state change it announces (transactional outbox). */
  async insertMany(db: Queryable, rows: OutboxRow[]) {
    if (rows.length > 0) await db.insertInto('outbox').values(rows).execute();
  },

  async listUndispatched(db: Queryable, limit: number): Promise<OutboxRow[]> {
    return db
      .selectFrom('outbox')
      .selectAll()
      .where('dispatched_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  },

  async markDispatched(db: Queryable, id: string, at: number): Promise<boolean> {
    const r = await db
      .updateTable('outbox')
      .set({ dispatched_at: at })
      .where('id', '=', id)
      .where('dispatched_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },
};
