import type pg from 'pg';
import { MUTABLE_STEP_COLUMNS, MUTABLE_WORKFLOW_COLUMNS, type StepRecord, type WorkflowRecord } from '../domain/records.js';
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

/**
 * What every writer of a step outside a batch changes: a claim (lease, and status or an attempt counter), a
 * heartbeat or a takeover (lease expiry), a release (lease). A step whose guard columns still hold the
 * values a batch read was written by no one else meanwhile.
 */
const STEP_GUARD = [
  'status',
  'attempt',
  'compensation_attempt',
  'lease_owner',
  'lease_expires_at',
] as const satisfies readonly (keyof StepRecord)[];
const guardFrom = (first: number) => STEP_GUARD.map((c, i) => `s.${c} is not distinct from ${typed(c, first + i)}`).join(' and ');

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
)
update steps set
  lease_owner = $4,
  lease_expires_at = $5::bigint + timeout_ms,
  attempt = case when status = 'pending' then attempt + 1 else attempt end,
  compensation_attempt = case when status = 'compensating' and lease_owner is null then compensation_attempt + 1 else compensation_attempt end,
  status = case when status = 'pending' then 'running' else status end,
  started_at = coalesce(started_at, $1::bigint),
  updated_at = $1::bigint
where id in (select id from chosen) and ${due}
returning *`;

// Named statements: parsed and planned once per connection.
const Q = {
  claim: { name: 'pv_claim', text: CLAIM },
  nextDue: { name: 'pv_next_due', text: 'select min(next_run_at) as at from steps where next_run_at > $1::bigint' },
  contextWorkflows: { name: 'pv_ctx_wf', text: 'select * from workflows where id = any($1::text[])' },
  contextOutputs: {
    name: 'pv_ctx_out',
    text: 'select workflow_id, name, output, response from steps where workflow_id = any($1::text[]) and (output is not null or response is not null)',
  },
  // Workflows are locked in id order, so two batches never wait on each other in a cycle. Their steps are
  // read without a lock (each row lock is a heap write and a WAL record: 7 per step in the bench); the
  // write below checks that no claim or lease release changed them meanwhile.
  loadWorkflows: { name: 'pv_load_wf', text: 'select * from workflows where id = any($1::text[]) order by id for update' },
  loadSteps: { name: 'pv_load_steps', text: 'select * from steps where workflow_id = any($1::text[]) order by workflow_id, position' },
  loadStepsLocked: {
    name: 'pv_load_steps_locked',
    text: 'select * from steps where workflow_id = any($1::text[]) order by workflow_id, position for update',
  },
  // Every write of a batch in one statement (one round trip): data-modifying CTEs run once each, referenced or
  // not, and touch different tables; an empty array writes nothing. A step is written only if it is still as
  // it was read (STEP_GUARD); the count of steps written tells the caller whether all were.
  writeAll: {
    name: 'pv_write_all',
    text: `with
steps_written as (update steps s set ${setFrom(MUTABLE_STEP_COLUMNS)} from jsonb_array_elements($1::jsonb) v
  where s.id = v ->> 0 and ${guardFrom(MUTABLE_STEP_COLUMNS.length + 1)} returning 1),
workflows_written as (update workflows w set ${setFrom(MUTABLE_WORKFLOW_COLUMNS)} from jsonb_array_elements($2::jsonb) v where w.id = v ->> 0),
events_written as (${insertFrom('events', EVENT_COLUMNS, 3)}),
outbox_written as (${insertFrom('outbox', OUTBOX_COLUMNS, 4)})
select (select count(*) from steps_written)::integer as steps`,
  },
};

export function createPostgresHotPath(pool: pg.Pool): HotPath {
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
    claim: (o) =>
      withClient((c) => run<StepRecord>(c, Q.claim, [o.now, o.afterTenant, o.limit, o.owner, o.now + o.leaseGraceMs, o.skipWorkflows])),

    nextDueAt: async (now) => (await run<{ at: number | null }>(pool, Q.nextDue, [now]))[0]?.at ?? null,

    runContext: (ids) =>
      withClient(async (c) => ({
        workflows: await run<WorkflowRecord>(c, Q.contextWorkflows, [ids]),
        outputs: await run<RunContextRows['outputs'][number]>(c, Q.contextOutputs, [ids]),
      })),

    // Optimistic first: steps read unlocked, written only if unchanged. If a claim or a lease release
    // changed one meanwhile, everything is undone and decided again on rows read under lock, which
    // cannot change before the commit.
    applyBatch: (ids, decide) =>
      withClient(async (c) => {
        for (const lockSteps of [false, true]) {
          await c.query('begin');
          try {
            const loaded = new Map<string, LoadedWorkflow>();
            const asRead = new Map<string, unknown[]>();
            for (const wf of await run<WorkflowRecord>(c, Q.loadWorkflows, [ids])) loaded.set(wf.id, { wf, steps: [] });
            for (const step of await run<StepRecord>(c, lockSteps ? Q.loadStepsLocked : Q.loadSteps, [ids])) {
              asRead.set(
                step.id,
                STEP_GUARD.map((k) => step[k]),
              );
              loaded.get(step.workflow_id)?.steps.push(step);
            }
            const { writes, result } = decide(loaded);
            if (writes.steps.length + writes.workflows.length + writes.events.length + writes.outbox.length > 0) {
              const steps = JSON.stringify(
                writes.steps.map((r) => [r.id, ...MUTABLE_STEP_COLUMNS.map((k) => r[k] ?? null), ...(asRead.get(r.id) ?? [])]),
              );
              const [written] = await run<{ steps: number }>(c, Q.writeAll, [
                steps,
                rowsAsJson(writes.workflows, ['id', ...MUTABLE_WORKFLOW_COLUMNS]),
                rowsAsJson(writes.events, EVENT_COLUMNS),
                rowsAsJson(writes.outbox, OUTBOX_COLUMNS),
              ]);
              if (written?.steps !== writes.steps.length) {
                await c.query('rollback');
                if (lockSteps) throw new Error(`a batch wrote ${written?.steps} of its ${writes.steps.length} steps under lock`);
                continue;
              }
            }
            await c.query('commit');
            return result;
          } catch (e) {
            await c.query('rollback').catch(() => undefined);
            throw e;
          }
        }
        throw new Error('unreachable');
      }),
  };
}

/** A client whose connection broke is destroyed rather than returned to the pool. */
function isConnectionLoss(e: Error): boolean {
  return /Connection terminated|ECONNRESET|EPIPE|server closed the connection/i.test(e.message);
}
