import type { Selectable, Updateable } from 'kysely';
import type { StepsTable } from './db-types.js';
import type { Queryable } from './queryable.js';
import type { Step, StepStatus } from '../domain/model.js';
import { stepFromRecord } from '../domain/records.js';

export type StepRow = Selectable<StepsTable>;
export type StepPatch = Updateable<StepsTable>;

/** Identifies one claim of one step: every write after the claim must match it, or it changes nothing. */
export interface Fence {
  stepId: string;
  owner: string;
}

export const toStep = (r: StepRow): Step => stepFromRecord(r);

export const stepsRepo = {
  async insertMany(db: Queryable, rows: StepRow[]) {
    if (rows.length > 0) await db.insertInto('steps').values(rows).execute();
  },

  async listForWorkflow(db: Queryable, workflowId: string): Promise<StepRow[]> {
    return db.selectFrom('steps').selectAll().where('workflow_id', '=', workflowId).orderBy('position').execute();
  },

  async getByName(db: Queryable, workflowId: string, name: string): Promise<StepRow | null> {
    return (
      (await db.selectFrom('steps').selectAll().where('workflow_id', '=', workflowId).where('name', '=', name).executeTakeFirst()) ?? null
    );
  },

  async findByTokenHash(db: Queryable, hash: string): Promise<StepRow | null> {
    return (await db.selectFrom('steps').selectAll().where('callback_token_hash', '=', hash).executeTakeFirst()) ?? null;
  },

  /** A write after a claim: applies only while this claim still holds the lease. */
  async updateFenced(db: Queryable, f: Fence, patch: StepPatch): Promise<boolean> {
    const r = await db.updateTable('steps').set(patch).where('id', '=', f.stepId).where('lease_owner', '=', f.owner).executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  /** A write outside a claim (callbacks, admin, rollback): applies only if the step is still in one of `from`. */
  async updateIfStatus(db: Queryable, stepId: string, from: readonly StepStatus[], patch: StepPatch): Promise<boolean> {
    const r = await db.updateTable('steps').set(patch).where('id', '=', stepId).where('status', 'in', from).executeTakeFirst();
    return r.numUpdatedRows === 1n;
  },

  async update(db: Queryable, stepId: string, patch: StepPatch) {
    await db.updateTable('steps').set(patch).where('id', '=', stepId).execute();
  },

  /** Steps of any workflow whose lease expired: for metrics and the stuck report. */
  async countExpiredLeases(db: Queryable, now: number): Promise<number> {
    const r = await db
      .selectFrom('steps')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('lease_expires_at', '<', now)
      .where('lease_owner', 'is not', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  },

  async dueSummary(db: Queryable, now: number): Promise<{ due: number; oldestDueAt: number | null }> {
    const r = await db
      .selectFrom('steps')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('next_run_at').as('oldest')])
      .where('next_run_at', '<=', now)
      .where('lease_owner', 'is', null)
      .executeTakeFirst();
    return { due: Number(r?.n ?? 0), oldestDueAt: r?.oldest == null ? null : Number(r.oldest) };
  },
};
