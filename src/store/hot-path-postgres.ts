import type pg from 'pg';
import { MUTABLE_STEP_COLUMNS, MUTABLE_WORKFLOW_COLUMNS, type StepRecord, type WorkflowRecord } from '../domain/records.js';
import type { WakeTopic } from './dialect.js';
import { DUE, EVENT_COLUMNS, OUTBOX_COLUMNS, rowsAsJson, type HotPath, type LoadedWorkflow, type RunContextRows } from './hot-path.js';

/** Column types, for reading set-based writes out of a JSON parameter. */
const INTEGER = new Set(['attempt', 'compensation_attempt', 'retry_count', 'max_attempts', 'poll_count', 'steps_completed']);
const BIGINT = new Set([
  'next_run_at',
  'deadline_at',
  'lease_expires_at',
  'first_poll_at',
  'started_at',
  'completed_at',
  'updated_at',
  'created_at',
  'last_progress_at',
  'cancel_requested_at',
  'dispatched_at',
]);
const typed = (c: string, i: number) => `(v ->> ${i})${INTEGER.has(c) ? '::integer' : BIGINT.has(c) ? '::bigint' : ''}`;
const setFrom = (cols: readonly string[]) => cols.map((c, i) => `${c} = ${typed(c, i + 1)}`).join(', ');
const insertFrom = (table: string, cols: readonly string[], param: number) =>
  `insert into ${table} (${cols.join(', ')}) select ${cols.map(typed).join(', ')} from jsonb_array_elements($${param}::jsonb) v`;

const due = DUE('$1::bigint');
/** The claim's extra column: not a step column, taken off each row. */
const NEXT_DUE = 'pv_next_due_at';

/**
 * Claims skip rows another replica holds (SKIP LOCKED), and the outer UPDATE re-checks the due test on
 * the row it locks, so two replicas never lease the same step.
 */
const CLAIM = `
with recursive
ring(tenant_id, n) as (
  select (select tenant_id from steps where tenant_id > $2 and ${due} order by tenant_id limit 1), 1
  union all
  select (select tenant_id from steps where tenant_id > ring.tenant_id and ${due} order by tenant_id limit 1), n + 1
  from ring where ring.tenant_id is not null and n < $3
),
firsts as (
  select s.id, s.next_run_at as at from ring cross join lateral (
    select id, next_run_at from steps where tenant_id = ring.tenant_id and ${due} and workflow_id <> all($6::text[])
    order by next_run_at limit 1 for update skip locked
  ) s
),
rest as (
  select id, next_run_at as at from steps where ${due} and workflow_id <> all($6::text[]) and id not in (select id from firsts)
  -- Only the slots the ring left: a row locked here and then not chosen would cost a heap write for nothing.
  order by next_run_at limit greatest(0, $3 - (select count(*) from firsts)) for update skip locked
),
chosen as (
  select id from (select id, 0 as p, at from firsts union all select id, 1 as p, at from rest) x order by p, at limit $3
),
claimed as (
  update steps set
    lease_owner = $4,
    lease_expires_at = $5::bigint + timeout_ms,
    attempt = case when status = 'pending' then attempt + 1 else attempt end,
    compensation_attempt = case when status = 'compensating' and lease_owner is null then compensation_attempt + 1 else compensation_attempt end,
    status = case when status = 'pending' then 'running' else status end,
    started_at = coalesce(started_at, $1::bigint),
    updated_at = $1::bigint
  where id in (select id from chosen) and ${due}
  returning *
)
-- The next due moment rides along (one row with no step when nothing was claimed): no second round trip.
select c.*, n.at as ${NEXT_DUE} from (select min(next_run_at) as at from steps where next_run_at > $1::bigint) n left join claimed c on true`;

// Named statements: parsed and planned once per connection.
const Q = {
  claim: { name: 'pv_claim', text: CLAIM },
  contextWorkflows: { name: 'pv_ctx_wf', text: 'select * from workflows where id = any($1::text[])' },
  contextOutputs: {
    name: 'pv_ctx_out',
    text: 'select workflow_id, name, output, response from steps where workflow_id = any($1::text[]) and (output is not null or response is not null)',
  },
  // Workflows first, in id order, then their steps: two batches never wait on each other in a cycle.
  loadWorkflows: { name: 'pv_load_wf', text: 'select * from workflows where id = any($1::text[]) order by id for update' },
  loadSteps: {
    name: 'pv_load_steps',
    text: 'select * from steps where workflow_id = any($1::text[]) order by workflow_id, position for update',
  },
  // Every write of a batch in one statement (one round trip): data-modifying CTEs run once each, referenced or
  // not, and touch different tables; an empty array writes nothing.
  writeAll: {
    name: 'pv_write_all',
    text: `with
steps_written as (update steps s set ${setFrom(MUTABLE_STEP_COLUMNS)} from jsonb_array_elements($1::jsonb) v where s.id = v ->> 0),
workflows_written as (update workflows w set ${setFrom(MUTABLE_WORKFLOW_COLUMNS)} from jsonb_array_elements($2::jsonb) v where w.id = v ->> 0),
events_written as (${insertFrom('events', EVENT_COLUMNS, 3)}),
outbox_written as (${insertFrom('outbox', OUTBOX_COLUMNS, 4)}),
-- Delivered at commit, and only then; a CTE without data-modifying statements runs only if referenced.
announced as (select pg_notify(c, $6) from unnest($5::text[]) c)
select (select count(*) from announced)::integer as announced`,
  },
};

/** The LISTEN/NOTIFY channel of a wake-up topic. */
export const wakeChannel = (topic: WakeTopic) => `provisioner_${topic}`;

/** `origin`: the payload of this process's NOTIFYs (its own LISTEN ignores them). */
export function createPostgresHotPath(pool: pg.Pool, origin: string): HotPath {
  const run = async <R extends pg.QueryResultRow>(client: pg.PoolClient | pg.Pool, q: { name: string; text: string }, values: unknown[]) =>
    (await client.query<R>({ ...q, values })).rows;

  async function withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (e) {
      broken = e as Error;
      throw e;
    } finally {
      client.release(broken && isConnectionLoss(broken) ? broken : undefined);
    }
  }

  return {
    claim: async (o) => {
      const rows = await withClient((c) =>
        run<ClaimRow>(c, Q.claim, [o.now, o.afterTenant, o.limit, o.owner, o.now + o.leaseGraceMs, o.skipWorkflows]),
      );
      const steps: StepRecord[] = [];
      for (const { [NEXT_DUE]: _, ...step } of rows) if (step.id !== null) steps.push(step as StepRecord);
      return { steps, nextDueAt: rows[0]?.[NEXT_DUE] ?? null };
    },

    runContext: (ids) =>
      withClient(async (c) => ({
        workflows: await run<WorkflowRecord>(c, Q.contextWorkflows, [ids]),
        outputs: await run<RunContextRows['outputs'][number]>(c, Q.contextOutputs, [ids]),
      })),

    applyBatch: (ids, decide) =>
      withClient(async (c) => {
        await c.query('begin');
        try {
          const loaded = new Map<string, LoadedWorkflow>();
          for (const wf of await run<WorkflowRecord>(c, Q.loadWorkflows, [ids])) loaded.set(wf.id, { wf, steps: [] });
          for (const step of await run<StepRecord>(c, Q.loadSteps, [ids])) loaded.get(step.workflow_id)?.steps.push(step);
          const { writes, result } = decide(loaded);
          const { steps, workflows, events, outbox, announce } = writes;
          if (steps.length + workflows.length + events.length + outbox.length + announce.length > 0)
            await run(c, Q.writeAll, [
              rowsAsJson(steps, ['id', ...MUTABLE_STEP_COLUMNS]),
              rowsAsJson(workflows, ['id', ...MUTABLE_WORKFLOW_COLUMNS]),
              rowsAsJson(events, EVENT_COLUMNS),
              rowsAsJson(outbox, OUTBOX_COLUMNS),
              announce.map(wakeChannel),
              origin,
            ]);
          await c.query('commit');
          return result;
        } catch (e) {
          await c.query('rollback').catch(() => undefined);
          throw e;
        }
      }),
  };
}

type ClaimRow = { [K in keyof StepRecord]: StepRecord[K] | null } & { [NEXT_DUE]: number | null };

/** A client whose connection broke is destroyed rather than returned to the pool. */
function isConnectionLoss(e: Error): boolean {
  return /Connection terminated|ECONNRESET|EPIPE|server closed the connection/i.test(e.message);
}
