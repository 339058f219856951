import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { stepsRepo, stepsSchedule, type StepRow, type Fence } from '../store/steps-repo.js';
import { workflowsRepo } from '../store/workflows-repo.js';
import { toError } from '../domain/errors.js';
import type { StepTypeName } from '../domain/step-specs.js';
import { TemplateError } from '../domain/template.js';
import type { WorkerConfig } from '../config.js';
import { createOutbound } from './outbound.js';
import { stepTypeOf } from './step-types/index.js';
import type { StepOutcome, Trigger } from './step-types/step-type.js';
import { renderRequest, sendRequest } from './step-types/request.js';
import type { CredentialCipher } from './credential-cipher.js';
import { applyCompensationOutcome, applyStepOutcome } from './outcomes.js';
import { buildScope } from './scope.js';
import { StaleWrite, WorkflowUnit, announceCommit } from './unit.js';
import { createWakeSignal } from './wake-signal.js';
import { callbackUrl } from './callbacks.js';
import { ulid } from '../domain/ids.js';
import { noopTracer, type Tracer } from '../tracing/tracer.js';
import { parseTraceparent } from '../tracing/ids.js';

export interface ExecutorDeps {
  store: Store;
  cipher: CredentialCipher;
  log: Logger;
  config: WorkerConfig;
  publicUrl: string;
  clock?: () => number;
  hooks?: ExecutorHooks;
  /** Each attempt a span, a child of the request that started the workflow; its requests are client spans. */
  tracer?: Tracer;
}

/** Observation points for metrics; the executor works the same without them. */
export interface ExecutorHooks {
  onAttempt?(type: string, outcome: StepOutcome['kind'] | 'lost' | 'error', durationMs: number): void;
  onLeaseLost?(): void;
}

export interface Executor {
  readonly workerId: string;
  start(): void;
  /** Stops claiming, waits up to `graceMs` for running steps, then aborts them and releases their leases. */
  stop(graceMs?: number): Promise<void>;
  running(): number;
}

export function createExecutor(deps: ExecutorDeps): Executor {
  const { store, log, config } = deps;
  const now = deps.clock ?? Date.now;
  const tracer = deps.tracer ?? noopTracer;
  const workerId = `w_${ulid()}`;
  const stopping = new AbortController();
  const abortRuns = new AbortController();
  const running = new Map<string, Promise<void>>();
  let claimSeq = 0;
  let tenantCursor = '';
  let loop: Promise<void> | null = null;
  const signal = createWakeSignal(stopping.signal);
  const wake = () => signal.wake();
  const sleep = (ms: number) => signal.sleep(ms);
  const unsubscribe = store.dialect.wakeups().subscribe('steps', wake);

  // This loop is also the sweeper: a wait past its deadline is due like any other step (its next_run_at
  // is the deadline), so it is claimed here and failed or retried by its type. Nothing else scans for
  // overdue work; what no loop can move shows in GET /admin/provisioning/stuck.
  async function run() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const free = config.concurrency - running.size;
      let claimed: StepRow[] = [];
      if (free > 0) {
        signal.settle(); // this claim sees everything committed before it
        try {
          claimed = await stepsRepo.claimDue(store.db, {
            owner: `${workerId}:${++claimSeq}`, limit: free, now: now(), leaseGraceMs: config.leaseGraceMs, lockClause: store.dialect.claimLockClause,
            afterTenant: tenantCursor,
          });
          if (claimed.length > 0) tenantCursor = claimed[claimed.length - 1].tenant_id;
          failures = 0;
        } catch (e) {
          failures++;
          log.warn({ err: toError(e) }, 'claiming steps failed; retrying');
          await sleep(Math.min(5000, 100 * 2 ** failures));
          continue;
        }
      }
      for (const row of claimed) track(row);
      if (claimed.length === free && free > 0) continue; // there may be more due right now
      let idle = config.pollIntervalMs;
      if (free > 0) {
        const next = await stepsSchedule.nextDueAfter(store.db, now()).catch(() => null);
        if (next !== null) idle = Math.max(1, Math.min(idle, next - now()));
      }
      await sleep(idle);
    }
  }

  function track(row: StepRow) {
    const p = runOne(row)
      .catch((e) => log.error({ err: toError(e), step: row.name, workflow_id: row.workflow_id }, 'step run crashed; its lease will expire and it will run again'))
      .finally(() => { running.delete(row.id); wake(); });
    running.set(row.id, p);
  }

  async function runOne(row: StepRow) {
    const fence: Fence = { stepId: row.id, owner: row.lease_owner as string };
    const slog = log.child({ workflow_id: row.workflow_id, tenant: row.tenant_id, step: row.name, attempt: row.attempt });
    const started = now();
    const wf = await workflowsRepo.get(store.db, row.workflow_id);
    if (!wf) return;
    const steps = await stepsRepo.listForWorkflow(store.db, row.workflow_id);
    const compensating = row.status === 'compensating';
    const trigger: Trigger = row.status === 'waiting_callback' || row.status === 'waiting_poll'
      ? (row.deadline_at !== null && started >= row.deadline_at ? 'deadline' : 'poll')
      : 'attempt';
    const spec = WorkflowUnit.spec(row);
    const attemptLabel = compensating ? `compensate-${row.compensation_attempt}` : String(row.attempt);
    const span = tracer.startSpan(`step ${row.type} ${row.name}`, {
      parent: parseTraceparent(wf.trace_parent),
      attributes: {
        'provisioner.workflow_id': wf.id, 'provisioner.tenant_id': wf.tenant_id, 'provisioner.step': row.name, 'provisioner.step_type': row.type,
        'provisioner.attempt': compensating ? row.compensation_attempt : row.attempt, 'provisioner.trigger': compensating ? 'compensate' : trigger,
      },
    });
    const http = createOutbound({
      baseUrl: wf.base_url,
      timeoutMs: row.timeout_ms,
      signal: abortRuns.signal,
      headers: {
        'idempotency-key': `${wf.id}:${row.name}:${attemptLabel}`,
        'x-provisioner-workflow': wf.id,
        'x-provisioner-tenant': wf.tenant_id,
        'user-agent': 'provisioner',
      },
      tracer, parent: span,
    });

    let outcome: StepOutcome;
    try {
      const scope = await buildScope(store.db, wf, steps);
      if (compensating) {
        const compensate = spec.compensate;
        const answer = compensate ? await sendRequest(http, renderRequest(compensate, scope)) : null;
        outcome = answer === null || answer.ok ? { kind: 'completed', output: null } : answer.outcome;
      } else {
        if (spec.type === 'callback') scope.callback = { url: callbackUrl(deps.publicUrl), token: deps.cipher.callbackToken(row.id, row.callback_token_hash) };
        outcome = await stepTypeOf(spec.type as StepTypeName).run({
          trigger, now: started, stepName: row.name, attempt: row.attempt, state: WorkflowUnit.state(row), deadlineAt: row.deadline_at,
          pollCount: row.poll_count, timeoutMs: row.timeout_ms, scope, http, signal: abortRuns.signal,
        }, spec);
      }
    } catch (e) {
      // A template that cannot render will never render: final. Anything else (a bug) ends the attempt.
      outcome = e instanceof TemplateError ? { kind: 'failed', error: e.message } : { kind: 'retry', error: toError(e).message };
      if (!(e instanceof TemplateError)) slog.error({ err: toError(e) }, 'step type threw');
    }

    if (abortRuns.signal.aborted) {
      // Stopping: hand the step back untouched so another worker runs the same attempt at once.
      await stepsRepo.updateFenced(store.db, fence, { lease_owner: null, lease_expires_at: null }).catch(() => undefined);
      span.setAttributes({ 'provisioner.outcome': 'released' });
      span.end();
      return;
    }

    const applied = await applyWithRetry(fence, row, (u, s) => compensating
      ? applyCompensationOutcome(u, s, outcome, fence)
      : applyStepOutcome(u, s, outcome, { guard: { fence }, polled: trigger === 'poll', trigger }, deps.cipher), slog);
    deps.hooks?.onAttempt?.(row.type, applied ? outcome.kind : 'lost', now() - started);
    span.setAttributes({ 'provisioner.outcome': applied ? outcome.kind : 'lost' });
    if (outcome.kind === 'failed' || outcome.kind === 'retry') span.setError(outcome.error);
    span.end();
    if (!applied) { deps.hooks?.onLeaseLost?.(); slog.warn('lease lost; outcome discarded'); }
    // The outcome's kind only: an error text may quote a service's answer, which logs never carry.
    else slog.debug({ trigger: compensating ? 'compensate' : trigger, outcome: outcome.kind, duration_ms: now() - started }, 'step attempt ended');
  }

  /** Database hiccups (a restart) should not cost the attempt: keep the outcome and retry until the lease would expire. */
  async function applyWithRetry(fence: Fence, row: StepRow, apply: (u: WorkflowUnit, s: StepRow) => Promise<void>, slog: Logger): Promise<boolean> {
    const until = now() + Math.max(5000, config.leaseGraceMs);
    for (let attempt = 1; ; attempt++) {
      try {
        let committed: WorkflowUnit | null = null;
        const ok = await store.transaction(async (tx) => {
          const u = await WorkflowUnit.load(tx, row.workflow_id, now());
          const s = u?.stepById(row.id);
          if (!u || !s || s.lease_owner !== fence.owner) return false;
          await apply(u, s);
          await u.flush();
          committed = u;
          return true;
        });
        announceCommit(store.dialect.wakeups(), committed);
        return ok;
      } catch (e) {
        // Another step of the workflow moved under us (claimed, called back): decide again on fresh rows.
        // The load above then tells whether our own lease still holds.
        if (e instanceof StaleWrite) {
          if (attempt < 5) continue;
          return false;
        }
        if (now() > until || stopping.signal.aborted && abortRuns.signal.aborted) { slog.error({ err: toError(e) }, 'could not record the outcome; the step will run again after its lease'); return false; }
        slog.warn({ err: toError(e), attempt }, 'recording the outcome failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
      }
    }
  }

  return {
    workerId,
    start() {
      if (loop) return;
      loop = run().catch((e) => log.fatal({ err: toError(e) }, 'executor loop died'));
    },
    async stop(graceMs = 10_000) {
      stopping.abort();
      wake();
      await loop;
      if (running.size > 0) {
        const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
        await Promise.race([Promise.allSettled([...running.values()]), timer]);
      }
      abortRuns.abort();
      await Promise.allSettled([...running.values()]);
      unsubscribe();
    },
    running: () => running.size,
  };
}
