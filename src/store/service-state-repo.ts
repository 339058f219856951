import { sql } from 'kysely';
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
    // One statement (a read is one round trip on PostgreSQL): the newest row of each kind, marked.
    const newest = (pick: string, q: ReturnType<typeof forService>) =>
      db.selectFrom(q.orderBy('id', 'desc').limit(1).as('w')).selectAll('w').select(sql.lit(pick).as('pick'));
    const rows = await newest('last_completed', forService().where('status', '=', 'completed'))
      .unionAll(newest('latest', forService()))
      .unionAll(newest('active', forService().where('status', 'in', [...ActiveWorkflowStatuses])))
      .execute();
    const of = (pick: string): WorkflowRow | null => {
      const r = rows.find((x) => x.pick === pick);
      if (!r) return null;
      const { pick: _, ...row } = r;
      return row as WorkflowRow;
    };
    return { lastCompleted: of('last_completed'), latest: of('latest'), active: of('active') };
  },

  /**
   * The completed provision and the completed updates after it, oldest first, up to `upToId`: the
   * results in force (parameters, endpoint, credentials) while the service is provisioned.
   */
  async provisionedChain(db: Queryable, tenantId: string, serviceSlug: string, upToId: string): Promise<WorkflowRow[]> {
    const forService = () =>
      db
        .selectFrom('workflows')
        .where('tenant_id', '=', tenantId)
        .where('service_slug', '=', serviceSlug)
        .where('status', '=', 'completed');
    // The newest completed provision up to `upToId` is the root; no root, no rows (`id >= null` matches nothing).
    const root = forService().select('id').where('kind', '=', 'provision').where('id', '<=', upToId).orderBy('id', 'desc').limit(1);
    return forService()
      .selectAll()
      .where('kind', 'in', ['provision', 'update'])
      .where('id', '>=', root)
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
