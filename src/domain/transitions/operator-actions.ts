import { Conflict, NotFound } from '../errors.js';
import { isForwardWorkflow, isOpenWorkflow, UnfinishedStepStatuses } from '../model.js';
import { specOf, stateOf, toJsonText } from '../records.js';
import { effectiveRetry } from '../retry-policy.js';
import type { Actor, WorkflowDraft } from '../workflow-draft.js';
import { advance, cancelUnfinished, startRollback } from './workflow-progress.js';

/** Operator repairs (DESIGN §5 admin), decided on the workflow's rows; each is an audit event. */

export function forceComplete(d: WorkflowDraft, a: Actor): void {
  const id = d.wf.id;
  if (!isForwardWorkflow(d.status)) {
    throw new Conflict(`workflow ${id} is ${d.status}; force-complete applies to pending, running or failed workflows`);
  }
  if (hasRolledBack(d)) {
    throw new Conflict(
      `workflow ${id} failed during its rollback, so it is not complete; if the leftovers were cleaned up by hand, use resolve`,
    );
  }
  d.event({ type: 'admin.force_complete', actor: a.actor, reason: a.reason });
  cancelUnfinished(d, UnfinishedStepStatuses, 'skipped', a);
  d.setWorkflow({ status: 'completed', completed_at: d.now, error: null, last_progress_at: d.now });
  d.event({ type: 'workflow.completed', actor: a.actor, reason: a.reason, data: { forced: true } });
  d.emit('provisioning.workflow.completed');
}

/**
 * A failed step runs again. It gets a fresh attempt budget (attempt numbers keep counting so idempotency
 * keys stay unique) and a new callback token: the old one stops working.
 */
export function retryStep(
  d: WorkflowDraft,
  stepName: string,
  a: Actor,
  tokenHashFor: (stepId: string, retryCount: number) => string,
): void {
  const id = d.wf.id;
  if (['rolling_back', 'rolled_back', 'cancelled'].includes(d.status)) {
    throw new Conflict(`workflow ${id} is ${d.status}; retry-step only applies before a rollback or cancel`);
  }
  if (hasRolledBack(d)) {
    throw new Conflict(
      `workflow ${id} failed during its rollback; its steps were undone, so retry-step cannot resume it. Start a new workflow`,
    );
  }
  const s = d.step(stepName);
  if (!s) throw new NotFound(`workflow ${id} has no step "${stepName}"`);
  if (s.status !== 'failed' || stateOf(s).compensation_failed === true) {
    throw new Conflict(`step ${stepName} is ${s.status}; retry-step only applies to failed steps`);
  }
  const state = { ...stateOf(s) };
  delete state.timed_out;
  const retryCount = s.retry_count + 1;
  d.writeStep(
    s,
    {
      status: 'pending',
      retry_count: retryCount,
      max_attempts: s.attempt + effectiveRetry(specOf(s).retry).max_attempts,
      next_run_at: d.now,
      deadline_at: null,
      completed_at: null,
      waiting_reason: 'queued by an operator retry',
      state: toJsonText(state),
      report_hash: null,
      early_report: null,
      callback_token_hash: s.callback_token_hash === null ? null : tokenHashFor(s.id, retryCount),
    },
    { from: ['failed'] },
  );
  d.event({ type: 'admin.retry_step', step: stepName, actor: a.actor, reason: a.reason });
  if (d.status !== 'running') {
    d.setWorkflow({ status: 'running', error: null, completed_at: null, last_progress_at: d.now });
    d.event({ type: 'workflow.resumed', actor: a.actor, reason: a.reason });
  }
  // Steps the failure kept from starting are ready again too (unless another step is still failed).
  advance(d);
  d.wake = true;
}

export function cancel(d: WorkflowDraft, compensate: boolean, a: Actor): void {
  if (!isOpenWorkflow(d.status)) {
    throw new Conflict(`workflow ${d.wf.id} is already ${d.status}; nothing to cancel`);
  }
  d.event({ type: 'admin.cancel', actor: a.actor, reason: a.reason, data: { compensate } });
  if (compensate && d.wf.kind !== 'deprovision' && d.status !== 'rolling_back' && !hasRolledBack(d)) {
    // Roll back first; the rollback then ends the workflow `cancelled` (DESIGN §7: any non-terminal → cancelled).
    d.setWorkflow({ cancel_requested_at: d.now });
    startRollback(d, `cancelled by an operator${a.reason ? `: ${a.reason}` : ''}`, a);
    return;
  }
  cancelUnfinished(d, [...UnfinishedStepStatuses, 'compensating'], 'cancelled', a);
  d.setWorkflow({
    status: 'cancelled',
    completed_at: d.now,
    last_progress_at: d.now,
    error: d.wf.error ?? (a.reason ? `cancelled: ${a.reason}` : 'cancelled by an operator'),
  });
  d.event({ type: 'workflow.cancelled', actor: a.actor, reason: a.reason });
  d.emit('provisioning.workflow.cancelled');
}

/**
 * An operator cleaned up by hand what a rollback could not undo: the workflow ends `rolled_back`, with
 * the steps that could not be compensated marked as resolved in the history.
 */
export function resolveRollback(d: WorkflowDraft, a: Actor): void {
  if (d.status !== 'failed' || !hasRolledBack(d) || d.steps.some((s) => s.status === 'compensating')) {
    throw new Conflict(
      `workflow ${d.wf.id} is ${d.status}; resolve only applies to a workflow whose rollback could not finish ("rollback incomplete")`,
    );
  }
  if (!a.reason) throw new Conflict('resolve needs a reason: say what was cleaned up and how');
  for (const s of d.steps) {
    if (stateOf(s).compensation_failed !== true) continue;
    d.writeStep(
      s,
      { status: 'compensated', waiting_reason: null, state: toJsonText({ ...stateOf(s), resolved_by_operator: true }) },
      { from: ['failed'] },
    );
    d.event({ type: 'step.compensated', step: s.name, actor: a.actor, reason: a.reason, data: { by_operator: true } });
  }
  d.event({ type: 'admin.resolve', actor: a.actor, reason: a.reason });
  d.setWorkflow({ status: 'rolled_back', completed_at: d.now, last_progress_at: d.now });
  d.event({ type: 'workflow.rolled_back', actor: a.actor, reason: a.reason, data: { resolved_by_operator: true } });
  d.emit('provisioning.workflow.rolled_back');
}

/** A workflow whose rollback ended incomplete is `failed` too, but has nothing left to resume. */
export function hasRolledBack(d: WorkflowDraft): boolean {
  return d.steps.some((s) => s.status === 'compensating' || s.status === 'compensated' || stateOf(s).compensation_failed === true);
}
