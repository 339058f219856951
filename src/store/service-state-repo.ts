import type { Queryable } from './queryable.js';
import type { WorkflowRow } from './workflows-repo.js';
import { ActiveWorkflowStatuses } from '../domain/model.js';

/** The reads behind a tenant × service's provisioned state (domain/service-state.ts derives it). */
export const serviceStateRepo = {
  async inputs(
    db: Queryable,
    tenantId: string,
    serviceSlug: string,
  ): Promise<{ lastCompleted: WorkflowRow | null; latest: WorkflowRow | null; active: WorkflowRow | null }> {
    const forService = () =>
      db.selectFrom('workflows').selectAll().where('tenant_id', '=', tenantId).where('service_slug', '=', serviceSlug);
    const [lastCompleted, latest, active] = await Promise.all([
      forService().where('status', '=', 'completed').orderBy('id', 'desc').limit(1).executeTakeFirst(),
      forService().orderBy('id', 'desc').limit(1).executeTakeFirst(),
      forService()
        .where('status', 'in', [...ActiveWorkflowStatuses])
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst(),
    ]);
    return { lastCompleted: lastCompleted ?? null, latest: latest ?? null, active: active ?? null };
  },

  /**
   * The completed provision and the completed updates after it, oldest first, up to `upToId`: the
   * results in force (parameters, endpoint, credentials) while the service is provisioned.
   */
  async provisionedChain(db: Queryable, tenantId: string, serviceSlug: string, upToId: string): Promise<WorkflowRow[]> {
    const root = await db
      .selectFrom('workflows')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('service_slug', '=', serviceSlug)
      .where('kind', '=', 'provision')
      .where('status', '=', 'completed')
      .where('id', '<=', upToId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!root) return [];
    return db
      .selectFrom('workflows')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('service_slug', '=', serviceSlug)
      .where('kind', 'in', ['provision', 'update'])
      .where('status', '=', 'completed')
      .where('id', '>=', root.id)
      .where('id', '<=', upToId)
      .orderBy('id', 'asc')
      .execute();
  },

  /** The newest completed provision or update before `beforeId`: what an update changes. */
  async completedBefore(db: Queryable, tenantId: string, serviceSlug: string, beforeId: string): Promise<WorkflowRow | null> {
    return (
      (await db
        .selectFrom('workflows')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .where('status', '=', 'completed')
        .where('id', '<', beforeId)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()) ?? null
    );
  },

  /** The newest completed workflow's id: re-read inside a start's transaction to catch a completion in between. */
  async lastCompletedId(db: Queryable, tenantId: string, serviceSlug: string): Promise<string | null> {
    const r = await db
      .selectFrom('workflows')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('service_slug', '=', serviceSlug)
      .where('status', '=', 'completed')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r?.id ?? null;
  },

  /** Tenants that ever ran a workflow of this service (the registry checks each before a removal). */
  async tenantsOf(db: Queryable, serviceSlug: string): Promise<string[]> {
    const rows = await db.selectFrom('workflows').select('tenant_id').distinct().where('service_slug', '=', serviceSlug).execute();
    return rows.map((r) => r.tenant_id);
  },
};
