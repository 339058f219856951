import type { Queryable } from './queryable.js';

/** Liveness of executor processes, and the takeover of a dead one's leases. */
export const workersRepo = {
  async register(db: Queryable, id: string, now: number) {
    await db
      .insertInto('workers')
      .values({ id, started_at: now, heartbeat_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now }))
      .execute();
  },

  async remove(db: Queryable, id: string) {
    await db.deleteFrom('workers').where('id', '=', id).execute();
  },

  /**
   * Records that `id` is alive; then ends the leases of every process whose heartbeat is older than
   * `deadBefore`, so their steps are due at once, and forgets those processes. A process that was only
   * paused finds its outcomes fenced out once another worker has claimed its steps.
   */
  async beatAndTakeOver(db: Queryable, id: string, now: number, deadBefore: number): Promise<{ dead: string[]; released: number }> {
    const beat = await db.updateTable('workers').set({ heartbeat_at: now }).where('id', '=', id).executeTakeFirst();
    if (beat.numUpdatedRows === 0n) await workersRepo.register(db, id, now);
    const dead = (await db.selectFrom('workers').select('id').where('heartbeat_at', '<', deadBefore).execute()).map((r) => r.id);
    let released = 0;
    for (const w of dead) {
      // Owners are `<worker id>:<claim>`; ';' is the character after ':', so this is the owner's prefix.
      const r = await db
        .updateTable('steps')
        .set({ lease_expires_at: now - 1 })
        .where('lease_expires_at', '>', now)
        .where('lease_owner', '>=', `${w}:`)
        .where('lease_owner', '<', `${w};`)
        .executeTakeFirst();
      released += Number(r.numUpdatedRows);
      await db.deleteFrom('workers').where('id', '=', w).execute();
    }
    return { dead, released };
  },
};
