import type { Selectable } from 'kysely';
import type { EventsTable } from './db-types.js';
import type { Queryable } from './queryable.js';
import type { WorkflowEvent } from '../domain/model.js';
import type { JsonObject } from '../domain/json.js';
import { fromJsonColumn } from './columns.js';

export type EventRow = Selectable<EventsTable>;

export function toEvent(r: EventRow): WorkflowEvent {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    tenantId: r.tenant_id,
    type: r.type,
    stepName: r.step_name,
    attempt: r.attempt,
    actor: r.actor,
    reason: r.reason,
    data: fromJsonColumn<JsonObject>(r.data) ?? {},
    createdAt: r.created_at,
  };
}

export const eventsRepo = {
  async insertMany(db: Queryable, rows: EventRow[]) {
    if (rows.length > 0) await db.insertInto('events').values(rows).execute();
  },

  /** Oldest first; `afterId` is the cursor (event ids are ULIDs, so id order is time order). */
  async listForWorkflow(db: Queryable, workflowId: string, afterId: string | undefined, limit: number): Promise<EventRow[]> {
    let q = db.selectFrom('events').selectAll().where('workflow_id', '=', workflowId);
    if (afterId !== undefined) q = q.where('id', '>', afterId);
    return q.orderBy('id', 'asc').limit(limit).execute();
  },
};
