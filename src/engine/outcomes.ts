import type { StepRow, Fence } from '../store/steps-repo.js';
import { toJsonColumn } from '../store/columns.js';
import { isJsonObject, type Json, type JsonObject } from '../domain/json.js';
import type { Report, StepStatus } from '../domain/model.js';
import type { StepTypeName } from '../domain/step-specs.js';
import { stepTypeOf } from './step-types/index.js';
import type { StepOutcome } from './step-types/step-type.js';
import { backoffMs } from './retry.js';
import type { CredentialCipher } from './credential-cipher.js';
import { advance } from './progress.js';
import { WorkflowUnit } from './unit.js';
import { openEarlyReport } from './early-report.js';

/** How the outcome reached us: a worker's claim (fenced) or a callback/admin write (guarded by status). */
export type WriteGuard = { fence: Fence } | { from: readonly StepStatus[] };

export interface OutcomeSource {
  guard: WriteGuard;
  /** Set when the outcome came from a poll, so polls are counted rather than logged one by one. */
  polled?: boolean;
  trigger?: 'attempt' | 'poll' | 'deadline' | 'callback';
}

const CLEARED = { lease_owner: null, lease_expires_at: null } as const;

/** Applies a forward step's outcome, then lets the workflow advance. */
export async function applyStepOutcome(u: WorkflowUnit, s: StepRow, outcome: StepOutcome, src: OutcomeSource, cipher: CredentialCipher): Promise<void> {
  const spec = WorkflowUnit.spec(s);
  // A callback that arrived while the request was still in flight wins over "now wait" or "retry".
  if ((outcome.kind === 'waiting' || outcome.kind === 'retry') && s.early_report !== null) {
    const early = openEarlyReport(s.early_report, cipher);
    const onReport = stepTypeOf(spec.type as StepTypeName).onReport;
    if (onReport) {
      u.event({ type: 'step.callback_applied', step: s.name, attempt: s.attempt, data: { status: early.status, early: true } });
      outcome = onReport(spec, early, u.now);
    }
  }

  const pollPatch = src.polled ? { poll_count: s.poll_count + 1, first_poll_at: s.first_poll_at ?? u.now } : {};

  if (u.status === 'rolling_back' && outcome.kind !== 'completed') {
    // The attempt in flight during a rollback has finished; it does not go on.
    await u.writeStep(s, { ...CLEARED, status: 'cancelled', error: errorOf(outcome) ?? s.error, next_run_at: null, deadline_at: null, waiting_reason: null, completed_at: u.now }, src.guard);
    u.event({ type: 'step.cancelled', step: s.name, attempt: s.attempt, data: { after: outcome.kind } });
    return advance(u);
  }

  switch (outcome.kind) {
    case 'completed': {
      const { output, credentials, endpoint } = splitSecrets(outcome.output, outcome.report);
      await u.writeStep(s, {
        ...CLEARED, ...pollPatch, status: 'completed', output: toJsonColumn(output), endpoint, error: null,
        next_run_at: null, deadline_at: null, waiting_reason: null, completed_at: u.now, early_report: null,
      }, src.guard);
      const wfPatch: Parameters<WorkflowUnit['setWorkflow']>[0] = { steps_completed: u.wf.steps_completed + 1, last_progress_at: u.now };
      if (endpoint) wfPatch.endpoint = endpoint;
      if (credentials) {
        const prior = u.wf.credentials ? cipher.decrypt(u.wf.credentials) : {};
        wfPatch.credentials = cipher.encrypt({ ...prior, ...credentials });
      }
      u.setWorkflow(wfPatch);
      summarisePolls(u, s);
      u.event({ type: 'step.completed', step: s.name, attempt: s.attempt, data: { has_endpoint: endpoint !== null, has_credentials: credentials !== null } });
      break;
    }
    case 'waiting': {
      await u.writeStep(s, {
        ...CLEARED, ...pollPatch, status: outcome.status, next_run_at: outcome.nextRunAt, deadline_at: outcome.deadlineAt,
        waiting_reason: outcome.reason, ...(outcome.state ? { state: toJsonColumn(outcome.state) } : {}),
        ...(outcome.progress ? { progress: toJsonColumn(outcome.progress) } : {}),
      }, src.guard);
      if (!src.polled) u.event({ type: `step.${outcome.status}`, step: s.name, attempt: s.attempt, data: { deadline_at: new Date(outcome.deadlineAt).toISOString() } });
      u.setWorkflow({ last_progress_at: u.now });
      return; // nothing else can change while this step waits
    }
    case 'retry': {
      if (s.attempt < s.max_attempts) {
        const at = Math.max(outcome.notBefore ?? 0, u.now + backoffMs(spec.retry, s.attempt));
        await u.writeStep(s, {
          ...CLEARED, ...pollPatch, status: 'pending', next_run_at: at, deadline_at: null, error: outcome.error,
          waiting_reason: `attempt ${s.attempt} of ${s.max_attempts} failed (${outcome.error}); next attempt at ${new Date(at).toISOString()}`,
        }, src.guard);
        u.event({ type: 'step.retry_scheduled', step: s.name, attempt: s.attempt, data: { error: outcome.error, next_run_at: new Date(at).toISOString() } });
        return;
      }
      await failStep(u, s, `${outcome.error} (gave up after ${s.attempt} attempts)`, src, pollPatch);
      break;
    }
    case 'failed':
      await failStep(u, s, outcome.error, src, pollPatch);
      break;
  }
  await advance(u);
}

async function failStep(u: WorkflowUnit, s: StepRow, error: string, src: OutcomeSource, extra: object) {
  const timedOut = src.trigger === 'deadline';
  const state = { ...WorkflowUnit.state(s), ...(timedOut ? { timed_out: true } : {}) };
  await u.writeStep(s, {
    ...CLEARED, ...extra, status: 'failed', error, next_run_at: null, deadline_at: null, waiting_reason: null,
    completed_at: u.now, state: toJsonColumn(state), early_report: null,
  }, src.guard);
  summarisePolls(u, s);
  u.setWorkflow({ last_progress_at: u.now });
  u.event({ type: 'step.failed', step: s.name, attempt: s.attempt, data: { error } });
  u.emit('provisioning.step.failed', s);
}

/** Applies a compensation's outcome during rollback (or a cancel with compensation). */
export async function applyCompensationOutcome(u: WorkflowUnit, s: StepRow, outcome: StepOutcome, fence: Fence): Promise<void> {
  const spec = WorkflowUnit.spec(s);
  if (outcome.kind === 'completed') {
    await u.writeStep(s, { ...CLEARED, status: 'compensated', next_run_at: null, waiting_reason: null }, { fence });
    u.event({ type: 'step.compensated', step: s.name, attempt: s.compensation_attempt });
  } else if (outcome.kind === 'retry' && s.compensation_attempt < s.max_attempts) {
    const at = Math.max(outcome.notBefore ?? 0, u.now + backoffMs(spec.retry, s.compensation_attempt));
    await u.writeStep(s, {
      ...CLEARED, next_run_at: at,
      waiting_reason: `compensation attempt ${s.compensation_attempt} failed (${outcome.error}); next attempt at ${new Date(at).toISOString()}`,
    }, { fence });
    u.event({ type: 'step.compensation_retry_scheduled', step: s.name, attempt: s.compensation_attempt, data: { error: errorOf(outcome) } });
    return;
  } else {
    const error = `compensation failed: ${errorOf(outcome) ?? 'unexpected outcome'}`;
    const state = { ...WorkflowUnit.state(s), compensation_failed: true };
    await u.writeStep(s, { ...CLEARED, status: 'failed', error, next_run_at: null, waiting_reason: null, state: toJsonColumn(state) }, { fence });
    u.event({ type: 'step.compensation_failed', step: s.name, attempt: s.compensation_attempt, data: { error } });
    u.emit('provisioning.step.failed', s);
  }
  u.setWorkflow({ last_progress_at: u.now });
  await advance(u);
}

function errorOf(o: StepOutcome): string | null {
  return o.kind === 'retry' || o.kind === 'failed' ? o.error : null;
}

/** Credentials are lifted out of outputs before anything is stored (DESIGN §6). */
function splitSecrets(output: Json, report?: Pick<Report, 'endpoint' | 'credentials'>): { output: Json; credentials: JsonObject | null; endpoint: string | null } {
  let credentials: JsonObject | null = report?.credentials ?? null;
  let endpoint: string | null = report?.endpoint ?? null;
  if (isJsonObject(output)) {
    const { credentials: c, ...rest } = output;
    if (isJsonObject(c)) credentials = { ...c, ...(credentials ?? {}) };
    if (endpoint === null && typeof output.endpoint === 'string') endpoint = output.endpoint;
    return { output: c === undefined ? output : rest, credentials, endpoint };
  }
  return { output, credentials, endpoint };
}

function summarisePolls(u: WorkflowUnit, s: StepRow) {
  if (s.poll_count > 0) {
    u.event({
      type: 'step.polled', step: s.name, attempt: s.attempt,
      data: { polls: s.poll_count, first_at: new Date(s.first_poll_at ?? u.now).toISOString(), last_at: new Date(u.now).toISOString() },
    });
  }
}
