import { sql, type Selectable } from 'kysely';
import type { WebhookDeliveriesTable, WebhookSubscriptionsTable } from './db-types.js';
import type { Queryable } from './queryable.js';
import type { OutboxRow } from './outbox-repo.js';
import { fromJsonColumn } from './columns.js';
import { matchesAny } from '../domain/webhook-topics.js';
import { newDeliveryId } from '../domain/ids.js';
import { WebhookDeliveryStatuses } from '../domain/webhook-views.js';

export type SubscriptionRow = Selectable<WebhookSubscriptionsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

export type DeliveryStatus = (typeof WebhookDeliveryStatuses)[number];

/** One claim of one delivery: a result is recorded only while this claim still holds the lease. */
export interface DeliveryFence {
  id: string;
  owner: string;
}

/** What one attempt needs: the stored event body (sent byte for byte) and where and how to sign it. */
export interface DeliveryJob {
  delivery: DeliveryRow;
  payload: string;
  targetUrl: string;
  /** As stored (sealed by the engine); the repository never sees the plain secret. */
  secret: string;
}

export interface DeliveryClaim {
  owner: string;
  limit: number;
  now: number;
  leaseMs: number;
  lockClause: string;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  subscriptionId?: string;
  /** Exclusive: rows with a smaller id (older) than this one. */
  beforeId?: string;
  limit: number;
}

/** The outcome of one attempt, as the dispatcher decided it. */
export type AttemptResult =
  | { status: 'delivered'; statusCode: number | null }
  | { status: 'pending'; statusCode: number | null; error: string; nextAttemptAt: number }
  | { status: 'dead'; statusCode: number | null; error: string };

export const subscriptionTopics = (s: SubscriptionRow): string[] => fromJsonColumn<string[]>(s.topics) ?? [];

export const webhooksRepo = {
  async insertSubscription(db: Queryable, row: SubscriptionRow) {
    await db.insertInto('webhook_subscriptions').values(row).execute();
  },

  async listSubscriptions(db: Queryable): Promise<SubscriptionRow[]> {
    return db.selectFrom('webhook_subscriptions').selectAll().orderBy('id').execute();
  },

  async getSubscription(db: Queryable, id: string): Promise<SubscriptionRow | null> {
    return (await db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  },

  /** Sealed signing secrets after `afterId`, in id order: key rotation walks them in batches. */
  async listSecrets(db: Queryable, afterId: string, limit: number): Promise<{ id: string; secret: string }[]> {
    return db.selectFrom('webhook_subscriptions').select(['id', 'secret']).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  },

  /** Replaces a sealed secret only if it is still the one that was read. */
  async replaceSecret(db: Queryable, id: string, from: string, to: string): Promise<boolean> {
    const r = await db
      .updateTable('webhook_subscriptions')
      .set({ secret: to })
      .where('id', '=', id)
      .where('secret', '=', from)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** Removes the subscription and its deliveries (pending ones would have nowhere to go). Run in a transaction. */
  async deleteSubscription(db: Queryable, id: string): Promise<boolean> {
    await db.deleteFrom('webhook_deliveries').where('subscription_id', '=', id).execute();
    const r = await db.deleteFrom('webhook_subscriptions').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows === 1n;
  },

  /**
   * Takes up to `limit` undispatched outbox rows, marks them dispatched and creates one pending delivery
   * per matching subscription. Run in one transaction: a crash before the commit leaves the rows
   * undispatched for the next pass, and the unique (subscription_id, event_id) index makes a repeat
   * harmless. PostgreSQL skips rows another replica is fanning out. Rows come back oldest first.
   * Raw SQL: the dialect's row-lock clause does not fit the builder.
   */
  async fanOut(db: Queryable, o: { limit: number; now: number; lockClause: string }): Promise<{ events: OutboxRow[]; deliveries: number }> {
    const res = await sql<OutboxRow>`
      update outbox set dispatched_at = ${o.now}
      where id in (
        select id from outbox where dispatched_at is null order by created_at, id limit ${o.limit} ${sql.raw(o.lockClause)}
      ) and dispatched_at is null
      returning *`.execute(db);
    const events = [...res.rows].sort((a, b) => Number(a.created_at) - Number(b.created_at) || (a.id < b.id ? -1 : 1));
    if (events.length === 0) return { events, deliveries: 0 };
    const subs = await db.selectFrom('webhook_subscriptions').select(['id', 'topics']).execute();
    const rows: DeliveryRow[] = [];
    for (const e of events) {
      for (const s of subs) {
        if (!matchesAny(fromJsonColumn<string[]>(s.topics) ?? [], e.topic)) continue;
        rows.push({
          id: newDeliveryId(),
          subscription_id: s.id,
          event_id: e.id,
          event_type: e.topic,
          status: 'pending',
          attempts: 0,
          next_attempt_at: o.now,
          lease_expires_at: null,
          lease_owner: null,
          last_attempt_at: null,
          last_error: null,
          last_status_code: null,
          created_at: o.now,
          delivered_at: null,
        });
      }
    }
    // Chunked: SQLite allows a bounded number of bound parameters per statement.
    for (let i = 0; i < rows.length; i += 50) {
      await db
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + 50))
        .onConflict((oc) => oc.columns(['subscription_id', 'event_id']).doNothing())
        .execute();
    }
    return { events, deliveries: rows.length };
  },

  /**
   * Claims due pending deliveries in one statement by setting their lease. A delivery whose lease
   * expired (its dispatcher died mid-attempt) is due again. Raw SQL for the dialect's lock clause.
   */
  async claimDue(db: Queryable, o: DeliveryClaim): Promise<DeliveryRow[]> {
    const res = await sql<DeliveryRow>`
      update webhook_deliveries set lease_owner = ${o.owner}, lease_expires_at = ${o.now + o.leaseMs}
      where id in (
        select id from webhook_deliveries
        where status = 'pending' and next_attempt_at <= ${o.now} and (lease_expires_at is null or lease_expires_at < ${o.now})
        order by next_attempt_at, id limit ${o.limit} ${sql.raw(o.lockClause)}
      )
      and status = 'pending' and next_attempt_at <= ${o.now} and (lease_expires_at is null or lease_expires_at < ${o.now})
      returning *`.execute(db);
    return res.rows;
  },

  /** The event bodies and targets of claimed deliveries (a delivery whose subscription vanished is absent). */
  async jobsFor(db: Queryable, deliveries: DeliveryRow[]): Promise<DeliveryJob[]> {
    if (deliveries.length === 0) return [];
    const rows = await db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('outbox as o', 'o.id', 'd.event_id')
      .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
      .select(['d.id as id', 'o.payload as payload', 's.target_url as target_url', 's.secret as secret'])
      .where(
        'd.id',
        'in',
        deliveries.map((d) => d.id),
      )
      .execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return deliveries.flatMap((d) => {
      const r = byId.get(d.id);
      return r ? [{ delivery: d, payload: r.payload, targetUrl: r.target_url, secret: r.secret }] : [];
    });
  },

  /** Records one attempt; applies only while `f` still holds the lease. */
  async recordAttemptFenced(db: Queryable, f: DeliveryFence, r: AttemptResult, now: number): Promise<boolean> {
    const res = await db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        status: r.status,
        next_attempt_at: r.status === 'pending' ? r.nextAttemptAt : null,
        lease_owner: null,
        lease_expires_at: null,
        last_attempt_at: now,
        last_status_code: r.statusCode,
        last_error: r.status === 'delivered' ? null : r.error,
        delivered_at: r.status === 'delivered' ? now : null,
      }))
      .where('id', '=', f.id)
      .where('lease_owner', '=', f.owner)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  },

  /** Hands a claimed delivery back untouched (the dispatcher is stopping): due again at once elsewhere. */
  async releaseFenced(db: Queryable, f: DeliveryFence): Promise<boolean> {
    const res = await db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('id', '=', f.id)
      .where('lease_owner', '=', f.owner)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  },

  /** Newest first. */
  async listDeliveries(db: Queryable, f: DeliveryFilter): Promise<DeliveryRow[]> {
    let q = db.selectFrom('webhook_deliveries').selectAll();
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.subscriptionId !== undefined) q = q.where('subscription_id', '=', f.subscriptionId);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  },

  async getDelivery(db: Queryable, id: string): Promise<DeliveryRow | null> {
    return (await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  },

  /**
   * A dead (or already delivered: a replay) delivery becomes pending and due now, with a fresh retry
   * schedule. Returns null when the delivery is not in one of those states.
   */
  async redeliver(db: Queryable, id: string, now: number): Promise<DeliveryRow | null> {
    return (
      (await db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', attempts: 0, next_attempt_at: now, lease_owner: null, lease_expires_at: null, delivered_at: null })
        .where('id', '=', id)
        .where('status', 'in', ['dead', 'delivered'])
        .returningAll()
        .executeTakeFirst()) ?? null
    );
  },

  /** The earliest future moment a delivery becomes due, so an idle dispatcher sleeps exactly that long. */
  async nextDueAfter(db: Queryable, now: number): Promise<number | null> {
    const r = await db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min<number>('next_attempt_at').as('at'))
      .where('next_attempt_at', '>', now)
      .executeTakeFirst();
    return r?.at == null ? null : Number(r.at);
  },

  /** For the gauges on /metrics: deliveries by status and events not yet fanned out. */
  async summary(db: Queryable): Promise<{ byStatus: Record<DeliveryStatus, number>; outboxBacklog: number }> {
    const rows = await db
      .selectFrom('webhook_deliveries')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    const byStatus: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, dead: 0 };
    for (const r of rows)
      if ((WebhookDeliveryStatuses as readonly string[]).includes(r.status)) byStatus[r.status as DeliveryStatus] = Number(r.n);
    const backlog = await db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('dispatched_at', 'is', null)
      .executeTakeFirst();
    return { byStatus, outboxBacklog: Number(backlog?.n ?? 0) };
  },
};
