import type { Selectable, Updateable } from 'kysely';
import type { SubscriptionEventsTable } from './db-types.js';
import type { Queryable } from './queryable.js';

export type SubscriptionEventRow = Selectable<SubscriptionEventsTable>;
export type SubscriptionEventPatch = Updateable<SubscriptionEventsTable>;

export interface SubscriptionEventFilter {
  tenantId?: string;
  serviceSlug?: string;
  status?: string;
  /** Exclusive: rows received before this one. */
  beforeId?: string;
  limit: number;
}

/** The intake's table: received events, the per-subscription order check and the per tenant × service queue. */
export const subscriptionEventsRepo = {
  /** A repeat is found by either key: ScaiControl may resend with the same event_id or the same idempotency_key. */
  async findRepeat(db: Queryable, eventId: string, idempotencyKey: string | null): Promise<SubscriptionEventRow | null> {
    let q = db.selectFrom('subscription_events').selectAll();
    q =
      idempotencyKey === null
        ? q.where('event_id', '=', eventId)
        : q.where((eb) => eb.or([eb('event_id', '=', eventId), eb('idempotency_key', '=', idempotencyKey)]));
    return (await q.orderBy('id', 'asc').limit(1).executeTakeFirst()) ?? null;
  },

  async get(db: Queryable, id: string): Promise<SubscriptionEventRow | null> {
    return (await db.selectFrom('subscription_events').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  },

  /** Stores an event; a rejected earlier copy (same event_id or key) is replaced, so a resend is evaluated again. */
  async record(db: Queryable, row: SubscriptionEventRow): Promise<void> {
    let del = db.deleteFrom('subscription_events').where('status', '=', 'rejected');
    del =
      row.idempotency_key === null
        ? del.where('event_id', '=', row.event_id)
        : del.where((eb) => eb.or([eb('event_id', '=', row.event_id), eb('idempotency_key', '=', row.idempotency_key)]));
    await del.execute();
    await db.insertInto('subscription_events').values(row).execute();
  },

  /** Fenced on `queued`: of several replicas applying the same queued event, one changes it. */
  async updateQueued(db: Queryable, id: string, patch: SubscriptionEventPatch): Promise<boolean> {
    const r = await db.updateTable('subscription_events').set(patch).where('id', '=', id).where('status', '=', 'queued').executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** The newest occurred_at among a subscription's applied (and, optionally, queued) events, other than `exceptId`. */
  async newestOccurred(db: Queryable, subscriptionId: string, statuses: string[], exceptId?: string): Promise<SubscriptionEventRow | null> {
    let q = db.selectFrom('subscription_events').selectAll().where('subscription_id', '=', subscriptionId).where('status', 'in', statuses);
    if (exceptId !== undefined) q = q.where('id', '<>', exceptId);
    return (await q.orderBy('occurred_at', 'desc').limit(1).executeTakeFirst()) ?? null;
  },

  /** The first queued event of a tenant × service: what the queue applies next. */
  async queueHead(db: Queryable, tenantId: string, serviceSlug: string): Promise<SubscriptionEventRow | null> {
    return (
      (await db
        .selectFrom('subscription_events')
        .selectAll()
        .where('status', '=', 'queued')
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .orderBy('occurred_at', 'asc')
        .orderBy('id', 'asc')
        .limit(1)
        .executeTakeFirst()) ?? null
    );
  },

  /** Tenant × service pairs with queued events. */
  async queuedPairs(db: Queryable, limit: number): Promise<{ tenant_id: string; service_slug: string }[]> {
    const rows = await db
      .selectFrom('subscription_events')
      .select(['tenant_id', 'service_slug'])
      .distinct()
      .where('status', '=', 'queued')
      .limit(limit)
      .execute();
    return rows.flatMap((r) =>
      r.tenant_id !== null && r.service_slug !== null ? [{ tenant_id: r.tenant_id, service_slug: r.service_slug }] : [],
    );
  },

  async list(db: Queryable, f: SubscriptionEventFilter): Promise<SubscriptionEventRow[]> {
    let q = db.selectFrom('subscription_events').selectAll();
    if (f.tenantId !== undefined) q = q.where('tenant_id', '=', f.tenantId);
    if (f.serviceSlug !== undefined) q = q.where('service_slug', '=', f.serviceSlug);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  },
};
