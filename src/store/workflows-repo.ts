import type { Selectable, Updateable } from 'kysely';
import type { WorkflowsTable } from './db-types.js';
import type { Queryable } from './queryable.js';
import { ActiveWorkflowStatuses, OpenWorkflowStatuses, type Workflow } from '../domain/model.js';
import { workflowFromRecord } from '../domain/records.js';

export type WorkflowRow = Selectable<WorkflowsTable>;
export type WorkflowPatch = Updateable<WorkflowsTable>;

export const toWorkflow = (r: WorkflowRow): Workflow => workflowFromRecord(r);

export interface WorkflowFilter {
  tenantId?: string;
  status?: string;
  serviceSlug?: string;
  kind?: string;
  /** Exclusive: rows with a smaller id (older) than this one. */
  beforeId?: string;
  limit: number;
}

export const workflowsRepo = {
  async insert(db: Queryable, row: WorkflowRow) {
    await db.insertInto('workflows').values(row).execute();
  },

  async get(db: Queryable, id: string): Promise<WorkflowRow | null> {
    return (await db.selectFrom('workflows').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  },

  /** Another tenant's workflow and a missing one look the same: null. */
  async getForTenant(db: Queryable, tenantId: string, id: string): Promise<WorkflowRow | null> {
    return (await db.selectFrom('workflows').selectAll().where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst()) ?? null;
  },

  /**
   * First statement of every transition: a write that takes the workflow's row lock (PostgreSQL) or the
   * write lock (SQLite), so transitions of one workflow never interleave, and returns the current row.
   */
  async lock(db: Queryable, id: string, now: number): Promise<WorkflowRow | null> {
    return (await db.updateTable('workflows').set({ updated_at: now }).where('id', '=', id).returningAll().executeTakeFirst()) ?? null;
  },

  async update(db: Queryable, id: string, patch: WorkflowPatch) {
    await db.updateTable('workflows').set(patch).where('id', '=', id).execute();
  },

  async list(db: Queryable, f: WorkflowFilter): Promise<WorkflowRow[]> {
    let q = db.selectFrom('workflows').selectAll();
    if (f.tenantId !== undefined) q = q.where('tenant_id', '=', f.tenantId);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.serviceSlug !== undefined) q = q.where('service_slug', '=', f.serviceSlug);
    if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  },

  async countByStatus(db: Queryable, f: Omit<WorkflowFilter, 'limit' | 'beforeId' | 'status'>): Promise<Record<string, number>> {
    let q = db
      .selectFrom('workflows')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status');
    if (f.tenantId !== undefined) q = q.where('tenant_id', '=', f.tenantId);
    if (f.serviceSlug !== undefined) q = q.where('service_slug', '=', f.serviceSlug);
    if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
    const rows = await q.execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  },

  async latestForService(db: Queryable, tenantId: string, serviceSlug: string): Promise<WorkflowRow | null> {
    return (
      (await db
        .selectFrom('workflows')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()) ?? null
    );
  },

  async latestCompletedProvision(db: Queryable, tenantId: string, serviceSlug: string): Promise<WorkflowRow | null> {
    return (
      (await db
        .selectFrom('workflows')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .where('kind', '=', 'provision')
        .where('status', '=', 'completed')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()) ?? null
    );
  },

  async findByIdempotencyKey(db: Queryable, tenantId: string, key: string): Promise<WorkflowRow | null> {
    return (
      (await db
        .selectFrom('workflows')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('idempotency_key', '=', key)
        .executeTakeFirst()) ?? null
    );
  },

  async findActive(db: Queryable, tenantId: string, serviceSlug: string): Promise<WorkflowRow | null> {
    return (
      (await db
        .selectFrom('workflows')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .where('status', 'in', [...ActiveWorkflowStatuses])
        .executeTakeFirst()) ?? null
    );
  },

  /** Does any tenant hold this service: an active workflow, or a latest provision that completed? */
  async anyHolding(db: Queryable, serviceSlug: string): Promise<WorkflowRow | null> {
    const active = await db
      .selectFrom('workflows')
      .selectAll()
      .where('service_slug', '=', serviceSlug)
      .where('status', 'in', [...ActiveWorkflowStatuses])
      .limit(1)
      .executeTakeFirst();
    if (active) return active;
    const tenants = await db
      .selectFrom('workflows')
      .select('tenant_id')
      .distinct()
      .where('service_slug', '=', serviceSlug)
      .where('kind', '=', 'provision')
      .where('status', '=', 'completed')
      .execute();
    for (const { tenant_id } of tenants) {
      const latest = await workflowsRepo.latestForService(db, tenant_id, serviceSlug);
      if (latest && latest.kind === 'provision' && (latest.status === 'completed' || latest.status === 'failed')) return latest;
    }
    return null;
  },

  /** Keyset-paged walk over stored credentials (key rotation). */
  async listCredentials(db: Queryable, afterId: string, limit: number): Promise<{ id: string; credentials: string }[]> {
    const rows = await db
      .selectFrom('workflows')
      .select(['id', 'credentials'])
      .where('credentials', 'is not', null)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows as { id: string; credentials: string }[];
  },

  /** Replaces a ciphertext only if it is still the one that was read (a concurrent merge wins). */
  async replaceCredentials(db: Queryable, id: string, from: string, to: string): Promise<boolean> {
    const r = await db
      .updateTable('workflows')
      .set({ credentials: to })
      .where('id', '=', id)
      .where('credentials', '=', from)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** Non-terminal workflows whose last progress is older than `before`. */
  async listStale(db: Queryable, before: number, limit: number): Promise<WorkflowRow[]> {
    return db
      .selectFrom('workflows')
      .selectAll()
      .where('status', 'in', [...OpenWorkflowStatuses])
      .where('last_progress_at', '<', before)
      .orderBy('last_progress_at', 'asc')
      .limit(limit)
      .execute();
  },
};
