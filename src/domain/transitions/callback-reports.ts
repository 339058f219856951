import { Conflict, Gone } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { Report, StepStatus } from '../model.js';
import { fromJsonText, stateOf, toJsonText, type StepRecord } from '../records.js';
import type { StepOutcome } from '../step-outcome.js';
import type { WorkflowDraft } from '../workflow-draft.js';
import { applyStepOutcome } from './step-outcomes.js';

export interface CallbackResult {
  workflow_id: string;
  step_name: string;
  step_status: StepStatus;
  duplicate: boolean;
}

export type CallbackOutcome = 'accepted' | 'duplicate' | 'heartbeat' | 'early';

export interface ReportContext {
  /** Identifies the report, so an identical repeat is recognised as a duplicate. */
  hash: string;
  /** How the step's type reads a final report; null for types that take no callbacks. */
  outcomeOf: ((r: Report) => StepOutcome) | null;
  /** How far an in_progress report moves the deadline. */
  heartbeatMs: number;
  /** The report as stored while its request is still in flight (credentials sealed). */
  sealEarly(r: Report): string;
}

/**
 * A service reports on a step (DESIGN §5.1), decided on the workflow's locked rows: concurrent identical
 * callbacks make exactly one transition and the rest are duplicates that change nothing.
 */
export function receiveReport(
  d: WorkflowDraft,
  s: StepRecord,
  report: Report,
  ctx: ReportContext,
): { result: CallbackResult; outcome: CallbackOutcome } {
  const status = s.status as StepStatus;
  const done = (outcome: CallbackOutcome, duplicate = false) => ({
    result: { workflow_id: d.wf.id, step_name: s.name, step_status: s.status as StepStatus, duplicate },
    outcome,
  });
  // Past the deadline the wait is over, whether or not a worker has recorded that yet.
  if (status === 'waiting_callback' && s.deadline_at !== null && d.now >= s.deadline_at) {
    throw new Gone(`the wait of step ${s.name} expired at ${new Date(s.deadline_at).toISOString()}; ask an operator to retry the step`);
  }

  if (report.status === 'in_progress') {
    if (status === 'waiting_callback') {
      const deadline = Math.max(s.deadline_at ?? 0, d.now + ctx.heartbeatMs);
      const prior = stateOf(s).heartbeats;
      const count = (isJsonObject(prior) && typeof prior.count === 'number' ? prior.count : 0) + 1;
      const heartbeats = {
        count,
        first_at: isJsonObject(prior) ? (prior.first_at ?? null) : new Date(d.now).toISOString(),
        last_at: new Date(d.now).toISOString(),
      };
      d.writeStep(
        s,
        {
          deadline_at: deadline,
          next_run_at: deadline,
          state: toJsonText({ ...stateOf(s), heartbeats }),
          ...(report.metadata ? { progress: toJsonText(report.metadata) } : {}),
        },
        { from: ['waiting_callback'] },
      );
      // The first heartbeat is told; the rest are counted and summarised when the step ends.
      if (count === 1)
        d.event({ type: 'step.heartbeat', step: s.name, attempt: s.attempt, data: { deadline_at: new Date(deadline).toISOString() } });
      d.setWorkflow({ last_progress_at: d.now });
      return done('heartbeat');
    }
    if (status === 'running' || (status === 'pending' && s.attempt > 0)) {
      if (report.metadata) d.writeStep(s, { progress: toJsonText(report.metadata) }, { from: [status] });
      return done('heartbeat');
    }
    throw endedError(s, 'an in_progress report');
  }

  if (status === 'running') {
    // The request that started the wait has not returned yet: keep the report; the worker applies it.
    if (s.early_report !== null) {
      if (s.report_hash === ctx.hash) return done('duplicate', true);
      throw new Conflict(`step ${s.name} already received a different ${fromJsonText<Report>(s.early_report)?.status} report`);
    }
    d.writeStep(s, { early_report: ctx.sealEarly(report), report_hash: ctx.hash }, { from: ['running'] });
    d.event({ type: 'step.callback', step: s.name, attempt: s.attempt, data: { status: report.status, early: true } });
    return done('early');
  }
  if (status === 'waiting_callback' || (status === 'pending' && s.attempt > 0)) {
    if (!ctx.outcomeOf) throw new Conflict(`step ${s.name} is a ${s.type} step and takes no callbacks`);
    d.writeStep(s, { report_hash: ctx.hash }, { from: [status] });
    d.event({ type: 'step.callback', step: s.name, attempt: s.attempt, data: { status: report.status } });
    applyStepOutcome(d, s, ctx.outcomeOf(report), { guard: { from: [status] }, trigger: 'callback' });
    return done('accepted');
  }
  // The accepted report stays identifiable after the step moves on (e.g. to compensated in a rollback).
  if ((['completed', 'failed', 'compensating', 'compensated'] as StepStatus[]).includes(status) && s.report_hash === ctx.hash) {
    return done('duplicate', true);
  }
  throw endedError(s, `a ${report.status} report`);
}

function endedError(s: StepRecord, what: string): Error {
  if (s.status === 'failed' && stateOf(s).timed_out === true) {
    return new Gone(
      `the wait of step ${s.name} expired at ${s.completed_at ? new Date(s.completed_at).toISOString() : 'its deadline'}; ask an operator to retry the step`,
    );
  }
  if (s.status === 'pending') return new Conflict(`step ${s.name} has not started yet; callbacks are accepted once its request is sent`);
  return new Conflict(`step ${s.name} is already ${s.status}; ${what} cannot change it`);
}
