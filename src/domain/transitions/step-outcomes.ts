import { isJsonObject, type Json, type JsonObject } from '../json.js';
import type { Report } from '../model.js';
import { specOf, stateOf, toJsonText, type StepRecord } from '../records.js';
import { backoffMs } from '../retry-policy.js';
import { splitSecrets } from '../secrets.js';
import type { StepOutcome } from '../step-outcome.js';
import { reportingOrder, type WorkflowDraft, type WriteGuard } from '../workflow-draft.js';
import { advance } from './workflow-progress.js';

/** How an outcome reached us: a worker's claim (fenced on its lease) or a callback (guarded by status). */
export interface OutcomeSource {
  guard: WriteGuard;
  trigger: 'attempt' | 'poll' | 'deadline' | 'callback';
}

const CLEARED = { lease_owner: null, lease_expires_at: null } as const;

/** Applies a forward step's outcome, then lets the workflow advance (DESIGN §7). */
export function applyStepOutcome(d: WorkflowDraft, s: StepRecord, outcome: StepOutcome, src: OutcomeSource): void {
  const polled = src.trigger === 'poll';
  const pollPatch = polled ? { poll_count: s.poll_count + 1, first_poll_at: s.first_poll_at ?? d.now } : {};

  if (d.status === 'rolling_back' && outcome.kind !== 'completed' && outcome.kind !== 'waiting') {
    // The attempt in flight during a rollback has finished without starting anything: it does not go on.
    d.writeStep(
      s,
      {
        ...CLEARED,
        status: 'cancelled',
        error: errorOf(outcome) ?? s.error,
        next_run_at: null,
        deadline_at: null,
        waiting_reason: null,
        completed_at: d.now,
      },
      src.guard,
    );
    d.event({ type: 'step.cancelled', step: s.name, attempt: s.attempt, data: { after: outcome.kind } });
    advance(d);
    return;
  }

  switch (outcome.kind) {
    case 'completed': {
      const { output, credentials, endpoint } = splitOutput(outcome.output, outcome.report);
      d.writeStep(
        s,
        {
          ...CLEARED,
          ...pollPatch,
          status: 'completed',
          output: toJsonText(output),
          endpoint,
          error: null,
          next_run_at: null,
          deadline_at: null,
          waiting_reason: null,
          completed_at: d.now,
          early_report: null,
        },
        src.guard,
      );
      d.setWorkflow({ steps_completed: d.wf.steps_completed + 1, last_progress_at: d.now });
      if (endpoint) d.setWorkflow({ endpoint: serviceEndpoint(d.steps) });
      if (credentials) d.recordCredentials(s, credentials);
      summariseWaiting(d, s);
      d.event({
        type: 'step.completed',
        step: s.name,
        attempt: s.attempt,
        data: { has_endpoint: endpoint !== null, has_credentials: credentials !== null },
      });
      break;
    }
    case 'waiting': {
      if (d.status === 'rolling_back') {
        // The service accepted the work while a sibling failed: the wait is abandoned, and the step is
        // compensated like a completed one, so what the service started is undone.
        d.writeStep(
          s,
          {
            ...CLEARED,
            ...pollPatch,
            status: 'cancelled',
            next_run_at: null,
            deadline_at: null,
            waiting_reason: null,
            completed_at: d.now,
            state: toJsonText({ ...stateOf(s), ...(outcome.state ?? {}), accepted: true }),
            ...(outcome.response !== undefined ? { response: toJsonText(outcome.response) } : {}),
          },
          src.guard,
        );
        d.event({ type: 'step.cancelled', step: s.name, attempt: s.attempt, data: { after: outcome.kind, accepted: true } });
        advance(d);
        return;
      }
      d.writeStep(
        s,
        {
          ...CLEARED,
          ...pollPatch,
          status: outcome.status,
          next_run_at: outcome.nextRunAt,
          deadline_at: outcome.deadlineAt,
          waiting_reason: outcome.reason,
          ...(outcome.state ? { state: toJsonText({ ...stateOf(s), ...outcome.state }) } : {}),
          ...(outcome.progress ? { progress: toJsonText(outcome.progress) } : {}),
          ...(outcome.response !== undefined ? { response: toJsonText(outcome.response) } : {}),
        },
        src.guard,
      );
      if (!polled)
        d.event({
          type: `step.${outcome.status}`,
          step: s.name,
          attempt: s.attempt,
          data: { deadline_at: new Date(outcome.deadlineAt).toISOString() },
        });
      d.setWorkflow({ last_progress_at: d.now });
      return; // nothing else can change while this step waits
    }
    case 'retry': {
      if (s.attempt < s.max_attempts) {
        const at = Math.max(outcome.notBefore ?? 0, d.now + backoffMs(specOf(s).retry, s.attempt));
        d.writeStep(
          s,
          {
            ...CLEARED,
            ...pollPatch,
            status: 'pending',
            next_run_at: at,
            deadline_at: null,
            error: outcome.error,
            waiting_reason: `attempt ${s.attempt} of ${s.max_attempts} failed (${outcome.error}); next attempt at ${new Date(at).toISOString()}`,
          },
          src.guard,
        );
        d.event({
          type: 'step.retry_scheduled',
          step: s.name,
          attempt: s.attempt,
          data: withDetail({ error: outcome.error, next_run_at: new Date(at).toISOString() }, outcome),
        });
        return;
      }
      failStep(d, s, `${outcome.error} (gave up after ${s.attempt} attempts)`, src, pollPatch, outcome.detail);
      break;
    }
    case 'failed':
      failStep(d, s, outcome.error, src, pollPatch, outcome.detail);
      break;
  }
  advance(d);
}

/** A step that cannot go on at all (e.g. its stored credentials cannot be decrypted): fails once, never loops. */
export function failStep(
  d: WorkflowDraft,
  s: StepRecord,
  error: string,
  src: OutcomeSource,
  extra: Partial<StepRecord> = {},
  detail?: string,
): void {
  const timedOut = src.trigger === 'deadline';
  const state = { ...stateOf(s), ...(timedOut ? { timed_out: true } : {}) };
  d.writeStep(
    s,
    {
      ...CLEARED,
      ...extra,
      status: 'failed',
      error,
      next_run_at: null,
      deadline_at: null,
      waiting_reason: null,
      completed_at: d.now,
      state: toJsonText(state),
      early_report: null,
    },
    src.guard,
  );
  summariseWaiting(d, s);
  d.setWorkflow({ last_progress_at: d.now });
  d.event({ type: 'step.failed', step: s.name, attempt: s.attempt, data: { error, ...(detail ? { detail } : {}) } });
  d.emit('provisioning.step.failed', s);
}

/** Applies a compensation's outcome during rollback (or a cancel with compensation). */
export function applyCompensationOutcome(d: WorkflowDraft, s: StepRecord, outcome: StepOutcome, guard: WriteGuard): void {
  if (outcome.kind === 'completed') {
    d.writeStep(s, { ...CLEARED, status: 'compensated', next_run_at: null, waiting_reason: null }, guard);
    d.event({ type: 'step.compensated', step: s.name, attempt: s.compensation_attempt });
  } else if (outcome.kind === 'retry' && s.compensation_attempt < s.max_attempts) {
    const at = Math.max(outcome.notBefore ?? 0, d.now + backoffMs(specOf(s).retry, s.compensation_attempt));
    d.writeStep(
      s,
      {
        ...CLEARED,
        next_run_at: at,
        waiting_reason: `compensation attempt ${s.compensation_attempt} failed (${outcome.error}); next attempt at ${new Date(at).toISOString()}`,
      },
      guard,
    );
    d.event({
      type: 'step.compensation_retry_scheduled',
      step: s.name,
      attempt: s.compensation_attempt,
      data: withDetail({ error: outcome.error }, outcome),
    });
    return;
  } else {
    const reason = errorOf(outcome) ?? 'unexpected outcome';
    const error = `compensation failed: ${reason}`;
    const state = { ...stateOf(s), compensation_failed: true };
    d.writeStep(s, { ...CLEARED, status: 'failed', error, next_run_at: null, waiting_reason: null, state: toJsonText(state) }, guard);
    d.event({
      type: 'step.compensation_failed',
      step: s.name,
      attempt: s.compensation_attempt,
      data: outcome.kind === 'failed' || outcome.kind === 'retry' ? withDetail({ error }, outcome) : { error },
    });
    d.emit('provisioning.step.failed', s);
  }
  d.setWorkflow({ last_progress_at: d.now });
  advance(d);
}

function errorOf(o: StepOutcome): string | null {
  return o.kind === 'retry' || o.kind === 'failed' ? o.error : null;
}

/**
 * The workflow's endpoint (DESIGN §6, made deterministic): the step that declares `endpoint: true`, when
 * one does; otherwise the last completed step in DAG order that reported one.
 */
export function serviceEndpoint(steps: readonly StepRecord[]): string | null {
  const declared = steps.find((s) => specOf(s).endpoint === true);
  if (declared) return declared.status === 'completed' ? declared.endpoint : null;
  return (
    reportingOrder(steps)
      .filter((x) => x.endpoint !== null)
      .at(-1)?.endpoint ?? null
  );
}

/** Operator-only text rides in the event's data; tenant-facing views leave it out. */
const withDetail = (data: JsonObject, o: { detail?: string }): JsonObject => (o.detail ? { ...data, detail: o.detail } : data);

/**
 * Credentials are lifted out of outputs before anything is stored (DESIGN §6): every secret-named key at
 * any depth (one rule, domain/secrets.ts); a report's own credentials win over those found in its output.
 */
export function splitOutput(
  output: Json,
  report?: Pick<Report, 'endpoint' | 'credentials'>,
): { output: Json; credentials: JsonObject | null; endpoint: string | null } {
  const split = splitSecrets(output);
  const reported = report?.credentials ?? null;
  const credentials = split.credentials || reported ? { ...(split.credentials ?? {}), ...(reported ?? {}) } : null;
  let endpoint: string | null = report?.endpoint ?? null;
  if (endpoint === null && isJsonObject(split.output) && typeof split.output.endpoint === 'string') endpoint = split.output.endpoint;
  return { output: split.output, credentials, endpoint };
}

/** Polls and heartbeats are counted while a step waits and told once, as a summary, when it ends. */
function summariseWaiting(d: WorkflowDraft, s: StepRecord): void {
  if (s.poll_count > 0) {
    d.event({
      type: 'step.polled',
      step: s.name,
      attempt: s.attempt,
      data: { polls: s.poll_count, first_at: new Date(s.first_poll_at ?? d.now).toISOString(), last_at: new Date(d.now).toISOString() },
    });
  }
  const hb = stateOf(s).heartbeats;
  if (isJsonObject(hb) && typeof hb.count === 'number' && hb.count > 1) {
    d.event({ type: 'step.heartbeats', step: s.name, attempt: s.attempt, data: hb });
  }
}
