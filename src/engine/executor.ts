import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { stepsRepo } from '../store/steps-repo.js';
import { workersRepo } from '../store/workers-repo.js';
import { toError } from '../domain/errors.js';
import type { StepTypeName } from '../domain/step-specs.js';
import { specOf, stateOf, type StepRecord } from '../domain/records.js';
import type { StepOutcome } from '../domain/step-outcome.js';
import { TemplateError } from '../domain/template.js';
import type { WorkflowDraft } from '../domain/workflow-draft.js';
import { applyCompensationOutcome, applyStepOutcome, failStep, type OutcomeSource } from '../domain/transitions/step-outcomes.js';
import { advance } from '../domain/transitions/workflow-progress.js';
import type { WorkerConfig } from '../config.js';
import { createOutbound } from './outbound.js';
import { stepTypeOf } from './step-types/index.js';
import type { Trigger } from './step-types/step-type.js';
import { tokenSubject, type CredentialCipher } from './credential-cipher.js';
import { compensate } from './step-types/compensation.js';
import { createCommitQueue, CredentialsUnreadable, type CommitQueue } from './commit-queue.js';
import { createRunContexts, type RunContext } from './run-context.js';
import { createSigningSecrets } from './signing-secrets.js';
import { buildScope } from './scope.js';
import { createLeaseLoop } from './lease-loop.js';
import { callbackUrl } from './callbacks.js';
import { openEarlyReport } from './early-report.js';
import { ulid } from '../domain/ids.js';
import { isWaiting } from '../domain/model.js';
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
  /** Where outcomes are committed; shared with the callback receiver and admin actions of the process. */
  commits?: CommitQueue;
  /** A process silent this long is dead: its leases are taken over (default 5 s; it heartbeats 5 times as often). */
  takeoverAfterMs?: number;
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

/**
 * The claim loop (DESIGN §8): one statement leases as many due steps as there are free slots, each
 * runs its step type (I/O only, no writes), and its outcome joins the commit queue, where it is applied
 * with other outcomes in one transaction, fenced on the claim.
 */
export function createExecutor(deps: ExecutorDeps): Executor {
  const { store, log, config } = deps;
  const now = deps.clock ?? Date.now;
  const tracer = deps.tracer ?? noopTracer;
  const commits = deps.commits ?? createCommitQueue({ store, cipher: deps.cipher, log, clock: deps.clock });
  const contexts = createRunContexts(store);
  const signing = createSigningSecrets(store, deps.cipher);
  const workerId = `w_${ulid()}`;
  let claimSeq = 0;
  let tenantCursor = '';
  /** Outcomes whose requests ended, on their way into the commit queue, by workflow. */
  const recording = new Map<Promise<void>, string>();

  interface Job {
    row: StepRecord;
    ctx: RunContext;
  }

  // This loop is also the sweeper: a wait past its deadline is due like any other step (its next_run_at
  // is the deadline), so it is claimed here and failed or retried by its type. Nothing else scans for
  // overdue work; what no loop can move shows in GET /admin/provisioning/stuck.
  const loop = createLeaseLoop<Job>({
    log,
    what: 'step',
    concurrency: config.concurrency,
    pollIntervalMs: config.pollIntervalMs,
    now,
    wakeups: store.dialect.wakeups(),
    wakeOn: 'steps',
    async claim(free) {
      const { steps: claimed, nextDueAt } = await store.dialect.hot.claim({
        owner: `${workerId}:${++claimSeq}`,
        limit: free,
        now: now(),
        leaseGraceMs: config.leaseGraceMs,
        afterTenant: tenantCursor,
        // A workflow whose outcome is not yet recorded has no next step yet: a sibling claimed now would
        // start on a decision (fail and hold, cancel) that is about to be made. The commit that records it
        // announces the workflow's due steps (commit queue), so the loop looks again.
        skipWorkflows: [...new Set(recording.values())],
      });
      tenantCursor = nextCursor(tenantCursor, claimed, free);
      if (claimed.length === 0) return { jobs: [], nextDueAt };
      let found: Map<string, RunContext>;
      try {
        found = await contexts.load(claimed);
      } catch (e) {
        // The leases expire and the steps run again; nothing was sent.
        log.warn({ err: toError(e) }, "reading claimed steps' workflows failed; they run again after their lease");
        return { jobs: [], nextDueAt };
      }
      const jobs = claimed.flatMap((row) => {
        const ctx = found.get(row.workflow_id);
        return ctx ? [{ row, ctx }] : [];
      });
      return { jobs, nextDueAt };
    },
    // The slot is the request to the service: it frees when the answer is in, and the outcome is
    // recorded beside the next claims (it joins the commit queue; stop waits for it). Holding the slot
    // through the commit made every step wait for a batch on PostgreSQL, which capped a process at
    // concurrency ÷ (request + commit) steps per second.
    run: async (job, aborted) => {
      const record = await runOne(job.row, job.ctx, aborted);
      if (!record) return;
      const p = record().finally(() => recording.delete(p));
      recording.set(p, job.row.workflow_id);
    },
    key: (job) => job.row.id,
    // Every claim reports the next due moment it saw; this is asked only if one did not.
    nextDueAt: async () => null,
  });

  /** Runs the attempt's I/O; returns what records its outcome, or null when there is nothing to record. */
  async function runOne(row: StepRecord, { wf, outputs }: RunContext, abortRuns: AbortSignal): Promise<(() => Promise<void>) | null> {
    const owner = row.lease_owner as string;
    const slog = log.child({ workflow_id: row.workflow_id, tenant: row.tenant_id, step: row.name, attempt: row.attempt });
    const started = now();
    const compensating = row.status === 'compensating';
    const trigger: Trigger = isWaiting(row.status)
      ? row.deadline_at !== null && started >= row.deadline_at
        ? 'deadline'
        : 'poll'
      : 'attempt';
    const spec = specOf(row);
    const attemptLabel = compensating ? `compensate-${row.compensation_attempt}` : String(row.attempt);
    const span = tracer.startSpan(`step ${row.type} ${row.name}`, {
      parent: parseTraceparent(wf.trace_parent),
      attributes: {
        'provisioner.workflow_id': wf.id,
        'provisioner.tenant_id': wf.tenant_id,
        'provisioner.step': row.name,
        'provisioner.step_type': row.type,
        'provisioner.attempt': compensating ? row.compensation_attempt : row.attempt,
        'provisioner.trigger': compensating ? 'compensate' : trigger,
      },
    });
    const http = createOutbound({
      baseUrl: wf.base_url,
      timeoutMs: row.timeout_ms,
      signal: abortRuns,
      headers: {
        'idempotency-key': `${wf.id}:${row.name}:${attemptLabel}`,
        'x-provisioner-workflow': wf.id,
        'x-provisioner-tenant': wf.tenant_id,
        'user-agent': 'provisioner',
      },
      tracer,
      parent: span,
      signingSecret: await signing.of(wf.service_slug),
    });

    let outcome: StepOutcome;
    try {
      const scope = await buildScope(store.db, wf, [...outputs.values()]);
      if (compensating) {
        outcome = await compensate(http, spec, scope);
      } else {
        if (row.callback_token_hash !== null) {
          scope.callback = {
            url: callbackUrl(deps.publicUrl),
            token: deps.cipher.callbackToken(tokenSubject(row), row.callback_token_hash),
          };
        }
        outcome = await stepTypeOf(spec.type as StepTypeName).run(
          {
            trigger,
            now: started,
            stepName: row.name,
            attempt: row.attempt,
            state: stateOf(row),
            deadlineAt: row.deadline_at,
            pollCount: row.poll_count,
            timeoutMs: row.timeout_ms,
            scope,
            http,
            signal: abortRuns,
          },
          spec,
        );
      }
    } catch (e) {
      // A template that cannot render will never render: final. Anything else (a bug) ends the attempt.
      outcome = e instanceof TemplateError ? { kind: 'failed', error: e.message } : { kind: 'retry', error: toError(e).message };
      if (!(e instanceof TemplateError)) slog.error({ err: toError(e) }, 'step type threw');
    }

    if (abortRuns.aborted) {
      // Stopping: hand the step back untouched so another worker runs the same attempt at once.
      await stepsRepo
        .updateFenced(store.db, { stepId: row.id, owner }, { lease_owner: null, lease_expires_at: null })
        .catch(() => undefined);
      span.setAttributes({ 'provisioner.outcome': 'released' });
      span.end();
      return null;
    }

    return () => recordOutcome();
    async function recordOutcome() {
      const src: OutcomeSource = { guard: { owner }, trigger };
      const applied = await commitWithRetry(
        row.workflow_id,
        (d) => {
          const s = d.stepById(row.id);
          if (!s || s.lease_owner !== owner) return null; // the lease passed to another worker, or an operator ended the step
          if (compensating) {
            applyCompensationOutcome(d, s, outcome, { owner });
            return s;
          }
          const restore = d.checkpoint();
          try {
            applyStepOutcome(d, s, withEarlyReport(d, s, outcome), src);
          } catch (e) {
            if (!(e instanceof CredentialsUnreadable)) throw e;
            // Fails once with the reason, instead of losing the outcome and re-running the step forever.
            restore();
            failStep(d, s, `the reported credentials could not be stored: ${e.message}`, src);
            advance(d);
          }
          return s;
        },
        slog,
        abortRuns,
      );
      deps.hooks?.onAttempt?.(row.type, applied ? outcome.kind : 'lost', now() - started);
      span.setAttributes({ 'provisioner.outcome': applied ? outcome.kind : 'lost' });
      if (outcome.kind === 'failed' || outcome.kind === 'retry') span.setError(outcome.error);
      span.end();
      if (!applied) {
        deps.hooks?.onLeaseLost?.();
        slog.warn('lease lost; outcome discarded');
      }
      // The outcome's kind only: an error text may quote a service's answer, which logs never carry.
      else
        slog.debug(
          { trigger: compensating ? 'compensate' : trigger, outcome: outcome.kind, duration_ms: now() - started },
          'step attempt ended',
        );
    }
  }

  /** A callback that arrived while the request was still in flight wins over "now wait" or "retry". */
  function withEarlyReport(d: WorkflowDraft, s: StepRecord, outcome: StepOutcome): StepOutcome {
    if ((outcome.kind !== 'waiting' && outcome.kind !== 'retry') || s.early_report === null) return outcome;
    const onReport = stepTypeOf(s.type as StepTypeName).onReport;
    if (!onReport) return outcome;
    const early = openEarlyReport(s.early_report, deps.cipher);
    d.event({ type: 'step.callback_applied', step: s.name, attempt: s.attempt, data: { status: early.status, early: true } });
    return onReport(specOf(s), early, d.now);
  }

  /** Database hiccups (a restart) should not cost the attempt: keep the outcome and retry until the lease would expire. */
  async function commitWithRetry<T>(
    workflowId: string,
    decide: (d: WorkflowDraft) => T | null,
    slog: Logger,
    abortRuns: AbortSignal,
  ): Promise<T | null> {
    const until = now() + Math.max(5000, config.leaseGraceMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await commits.submit(workflowId, decide);
      } catch (e) {
        if (!store.dialect.isConnectionError(e) || now() > until || abortRuns.aborted) {
          slog.error({ err: toError(e) }, 'could not record the outcome; the step will run again after its lease');
          return null;
        }
        slog.warn({ err: toError(e), attempt }, 'recording the outcome failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
      }
    }
  }

  // Liveness: a SIGKILLed process's steps are due again within takeoverAfterMs plus one beat, not when
  // their leases (request timeout + grace) run out while the service's deadlines run.
  const takeoverAfterMs = deps.takeoverAfterMs ?? 5000;
  let beating: NodeJS.Timeout | null = null;
  let unwatchCommits: (() => void) | null = null;
  async function beat() {
    try {
      const { dead, released } = await workersRepo.beatAndTakeOver(store.db, workerId, now(), now() - takeoverAfterMs);
      if (dead.length > 0) {
        log.warn({ dead, released }, 'took over the leases of processes that stopped heartbeating');
        if (released > 0) store.dialect.wakeups().notify('steps');
      }
    } catch (e) {
      log.warn({ err: toError(e) }, 'heartbeat failed; retrying');
    }
  }

  return {
    workerId,
    start() {
      if (beating) return;
      beating = setInterval(() => void beat(), Math.max(50, Math.floor(takeoverAfterMs / 5)));
      beating.unref();
      void beat();
      unwatchCommits = commits.onCommit((c) => {
        contexts.completed(c.completed);
        if (c.laterDueAt !== null) loop.wakeAt(c.laterDueAt);
      });
      loop.start();
    },
    async stop(graceMs = 10_000) {
      if (beating) clearInterval(beating);
      unwatchCommits?.();
      unwatchCommits = null;
      await loop.stop(graceMs);
      await Promise.allSettled([...recording.keys()]);
      await commits.drain();
      await workersRepo.remove(store.db, workerId).catch(() => undefined);
    },
    running: () => loop.running() + recording.size,
  };
}

/**
 * The ring of "one step per tenant" advances past the last tenant it served; when fewer tenants had
 * work than there were slots, it has gone round and starts again at the beginning.
 */
function nextCursor(cursor: string, claimed: StepRecord[], limit: number): string {
  if (claimed.length < limit) return '';
  let last = cursor;
  for (const s of claimed) if (s.tenant_id > last) last = s.tenant_id;
  return last === cursor ? '' : last;
}
