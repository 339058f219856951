import { sql } from 'kysely';
import type { Queryable } from './queryable.js';

/**
 * Which key ids sealed what is stored (issue 11 finding 3). A sealed value is the credential cipher's
 * envelope, JSON that always starts `{"v":1,"kid":"<12 hex>"`: the kid is read with substr, which both
 * databases share (their JSON functions differ), instead of decrypting or parsing every row.
 */
const KID = (column: string) => sql<string>`substr(${sql.ref(column)}, 15, 12)`;

export interface UnknownKey {
  kid: string;
  where: string;
}

export const sealedKeysRepo = {
  /** The first stored value in each place sealed by none of `kids`, or an empty list. */
  async unknownKeys(db: Queryable, kids: readonly string[]): Promise<UnknownKey[]> {
    const found: UnknownKey[] = [];
    const places = [
      { table: 'workflows', column: 'credentials', where: 'workflow credentials' },
      { table: 'webhook_subscriptions', column: 'secret', where: 'webhook subscription secrets' },
      { table: 'services', column: 'signing_secret', where: 'service signing secrets' },
    ] as const;
    for (const p of places) {
      const row = await db
        .selectFrom(p.table)
        .select(KID(p.column).as('kid'))
        .where(p.column, 'is not', null)
        .where(KID(p.column), 'not in', [...kids])
        .limit(1)
        .executeTakeFirst();
      if (row) found.push({ kid: row.kid, where: p.where });
    }
    return found;
  },
};
