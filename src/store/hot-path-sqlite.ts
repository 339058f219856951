import type Database from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { MUTABLE_STEP_COLUMNS, MUTABLE_WORKFLOW_COLUMNS, type StepRecord, type WorkflowRecord } from '../domain/records.js';
import type { Db } from './db-types.js';
import { DUE, EVENT_COLUMNS, OUTBOX_COLUMNS, rowsAsJson, type HotPath, type LoadedWorkflow, type RunContextRows } from './hot-path.js';

const due = DUE('@now');

/** Raw SQL: a recursive CTE (one index seek per tenant of the ring) and UPDATE … RETURNING do not fit the builder. */
const CLAIM = `
with recursive
ring(tenant_id, n) as (
  select (select tenant_id from steps where tenant_id > @cursor and ${due} order by tenant_id limit 1), 1
  union all
  select (select tenant_id from steps where tenant_id > ring.tenant_id and ${due} order by tenant_id limit 1), n + 1
  from ring where ring.tenant_id is not null and n < @limit
),
firsts(id, at) as materialized (
  select s.id, s.next_run_at from ring
  join steps s on s.id = (select id from steps where tenant_id = ring.tenant_id and ${due} order by next_run_at limit 1)
),
rest(id, at) as (
  select id, next_run_at from steps where ${due} and id not in (select id from firsts) order by next_run_at limit @limit
),
chosen(id) as (
  select id from (select id, 0 as p, at from firsts union all select id, 1 as p, at from rest) order by p, at limit @limit
)
update steps set
  lease_owner = @owner,
  lease_expires_at = @leaseBase + timeout_ms,
  attempt = case when status = 'pending' then attempt + 1 else attempt end,
  compensation_attempt = case when status = 'compensating' and lease_owner is null then compensation_attempt + 1 else compensation_attempt end,
  status = case when status = 'pending' then 'running' else status end,
  started_at = coalesce(started_at, @now),
  updated_at = @now
where id in (select id from chosen) and ${due}
returning *`;

const IDS = 'select value from json_each(?)';
const setFrom = (cols: readonly string[]) => cols.map((c, i) => `${c} = v.value ->> ${i + 1}`).join(', ');
const insertFrom = (table: string, cols: readonly string[]) =>
  `insert into ${table} (${cols.join(', ')}) select ${cols.map((_, i) => `value ->> ${i}`).join(', ')} from json_each(?)`;

const SQL = {
  claim: CLAIM,
  contextWorkflows: `select * from workflows where id in (${IDS})`,
  contextOutputs: `select workflow_id, name, output, response from steps where workflow_id in (${IDS}) and (output is not null or response is not null)`,
  loadWorkflows: `select * from workflows where id in (${IDS})`,
  loadSteps: `select * from steps where workflow_id in (${IDS}) order by workflow_id, position`,
  writeSteps: `update steps set ${setFrom(MUTABLE_STEP_COLUMNS)} from json_each(?) as v where steps.id = v.value ->> 0`,
  writeWorkflows: `update workflows set ${setFrom(MUTABLE_WORKFLOW_COLUMNS)} from json_each(?) as v where workflows.id = v.value ->> 0`,
  insertEvents: insertFrom('events', EVENT_COLUMNS),
  insertOutbox: insertFrom('outbox', OUTBOX_COLUMNS),
};

/**
 * better-sqlite3 is synchronous: a whole batch runs as one immediate transaction without yielding,
 * holding Kysely's single connection so no other query interleaves. Statements are prepared once.
 */
export function createSqliteHotPath(raw: Database.Database, db: Kysely<Db>): HotPath {
  let prepared: { [K in keyof typeof SQL]: Database.Statement } | null = null;
  // Prepared on first use: the tables exist only once migrations ran.
  const stmt = () => (prepared ??= Object.fromEntries(Object.entries(SQL).map(([k, v]) => [k, raw.prepare(v)])) as NonNullable<typeof prepared>);
  const exclusive = <T>(fn: () => T): Promise<T> => db.connection().execute(async () => fn());

  return {
    claim: (o) => exclusive(() => stmt().claim.all({
      owner: o.owner, limit: o.limit, now: o.now, cursor: o.afterTenant, leaseBase: o.now + o.leaseGraceMs,
    }) as StepRecord[]),

    runContext: (ids) => exclusive(() => {
      const list = JSON.stringify(ids);
      return {
        workflows: stmt().contextWorkflows.all(list) as WorkflowRecord[],
        outputs: stmt().contextOutputs.all(list) as RunContextRows['outputs'],
      };
    }),

    applyBatch: (ids, decide) => exclusive(() => raw.transaction(() => {
      const s = stmt();
      const list = JSON.stringify(ids);
      const loaded = new Map<string, LoadedWorkflow>();
      for (const wf of s.loadWorkflows.all(list) as WorkflowRecord[]) loaded.set(wf.id, { wf, steps: [] });
      for (const step of s.loadSteps.all(list) as StepRecord[]) loaded.get(step.workflow_id)?.steps.push(step);
      const { writes, result } = decide(loaded);
      if (writes.steps.length > 0) s.writeSteps.run(rowsAsJson(writes.steps, ['id', ...MUTABLE_STEP_COLUMNS]));
      if (writes.workflows.length > 0) s.writeWorkflows.run(rowsAsJson(writes.workflows, ['id', ...MUTABLE_WORKFLOW_COLUMNS]));
      if (writes.events.length > 0) s.insertEvents.run(rowsAsJson(writes.events, EVENT_COLUMNS));
      if (writes.outbox.length > 0) s.insertOutbox.run(rowsAsJson(writes.outbox, OUTBOX_COLUMNS));
      return result;
    }).immediate()),
  };
}
