import { ancestorsOf } from '../dag.js';
import { IdleUnfinishedStepStatuses, isForwardWorkflow, isInFlight, isSatisfied, isWaiting, type StepStatus } from '../model.js';
import { depsOf, specOf, stateOf, toJsonText, type StepRecord } from '../records.js';
import type { Actor, WorkflowDraft } from '../workflow-draft.js';

/**
 * Decides what a workflow does next after any change (DESIGN §7): start ready steps, finish, hold on
 * failure, or roll back. Idempotent: a second call changes nothing.
 */
export function advance(d: WorkflowDraft): void {
  if (d.status === 'rolling_back') {
    rollbackProgress(d);
    return;
  }
  if (!isForwardWorkflow(d.status)) return;

  const failed = d.steps.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    if (d.wf.on_failure === 'rollback' && rollsBack(d.wf.kind) && d.status !== 'failed') {
      startRollback(d, describeFailures(failed), null);
      return;
    }
    // hold: nothing new starts. Steps queued but never attempted go back to waiting (retry-step re-queues
    // them through advance); steps already under way carry on; the workflow is failed once none is left.
    for (const s of d.steps) {
      if (s.status === 'pending' && s.attempt === 0 && s.next_run_at !== null) {
        d.writeStep(s, { next_run_at: null, waiting_reason: null }, { from: ['pending'] });
      }
    }
    const underWay = d.steps.some((s) => isInFlight(s.status) || (s.status === 'pending' && s.next_run_at !== null));
    if (!underWay && d.status !== 'failed') {
      const error = describeFailures(failed);
      d.setWorkflow({ status: 'failed', error, last_progress_at: d.now });
      d.event({ type: 'workflow.failed', data: { error, on_failure: 'hold' } });
      d.emit('provisioning.workflow.failed');
    }
    return;
  }

  if (d.status === 'failed') return; // held, waiting for an operator; retry-step sets it running again

  if (d.steps.every((s) => isSatisfied(s.status))) {
    d.setWorkflow({ status: 'completed', completed_at: d.now, error: null, last_progress_at: d.now });
    d.event({ type: 'workflow.completed' });
    d.emit('provisioning.workflow.completed');
    return;
  }

  for (const s of d.steps) {
    if (s.status !== 'pending' || s.next_run_at !== null) continue;
    if (
      depsOf(s).every((name) => {
        const dep = d.step(name);
        return dep !== undefined && isSatisfied(dep.status);
      })
    ) {
      d.writeStep(s, { next_run_at: d.now, waiting_reason: null }, { from: ['pending'] });
      d.wake = true;
    }
  }
}

/** Provisioning and updates undo themselves on failure; a deprovision that fails is held for an operator. */
const rollsBack = (kind: string) => kind !== 'deprovision';

/** Rollback: stop what has not started or waits, let requests in flight finish, then compensate. */
export function startRollback(d: WorkflowDraft, error: string, by: Actor | null): void {
  const announceFailure = d.status !== 'failed' && by === null;
  d.setWorkflow({ status: 'rolling_back', error, last_progress_at: d.now });
  if (announceFailure) {
    d.event({ type: 'workflow.failed', data: { error, on_failure: 'rollback' } });
    d.emit('provisioning.workflow.failed');
  }
  d.event({ type: 'workflow.rolling_back', actor: by?.actor, reason: by?.reason });
  cancelUnfinished(d, IdleUnfinishedStepStatuses, 'cancelled');
  rollbackProgress(d);
}

/**
 * Ends unfinished steps (their callback tokens stop working, a worker still running one loses its
 * fence). A step that waits had its request accepted by the service: it is marked so rollback undoes it.
 */
export function cancelUnfinished(d: WorkflowDraft, from: readonly StepStatus[], to: 'cancelled' | 'skipped', by?: Actor): void {
  for (const s of d.steps) {
    if (!from.includes(s.status as StepStatus)) continue;
    const accepted = isWaiting(s.status);
    d.writeStep(
      s,
      {
        status: to,
        next_run_at: null,
        deadline_at: null,
        lease_owner: null,
        lease_expires_at: null,
        waiting_reason: null,
        completed_at: d.now,
        ...(accepted && to === 'cancelled' ? { state: toJsonText({ ...stateOf(s), accepted: true }) } : {}),
      },
      { from: [s.status as StepStatus] },
    );
    d.event({
      type: `step.${to}`,
      step: s.name,
      actor: by?.actor,
      reason: by?.reason,
      ...(accepted && to === 'cancelled' ? { data: { accepted: true } } : {}),
    });
  }
}

/** Completed steps, and cancelled ones whose request the service had accepted, are undone if they can be. */
export function needsCompensation(s: StepRecord): boolean {
  if (specOf(s).compensate === undefined) return false;
  return s.status === 'completed' || (s.status === 'cancelled' && stateOf(s).accepted === true);
}

function rollbackProgress(d: WorkflowDraft): void {
  if (d.steps.some((s) => s.status === 'running')) return; // a request in flight finishes its attempt first
  // Transitive, not only direct children: a -> b (nothing to undo) -> c waits for c's compensation before a's.
  const ancestors = ancestorsOf(d.steps.map((s) => ({ name: s.name, depends_on: [...depsOf(s)] })));
  for (const s of d.steps) {
    if (!needsCompensation(s)) continue;
    const descendants = d.steps.filter((c) => ancestors.get(c.name)?.has(s.name));
    if (descendants.some((c) => needsCompensation(c) || c.status === 'compensating')) continue;
    d.writeStep(
      s,
      { status: 'compensating', next_run_at: d.now, waiting_reason: 'compensation queued' },
      { from: [s.status as StepStatus] },
    );
    d.event({ type: 'step.compensating', step: s.name });
    d.wake = true;
  }
  if (d.steps.some((s) => s.status === 'compensating')) return;

  const compFailed = d.steps.filter((s) => stateOf(s).compensation_failed === true);
  if (compFailed.length > 0) {
    const error = `rollback incomplete: ${compFailed.map((s) => `could not undo ${s.name}: ${(s.error ?? 'unknown error').replace(/^compensation failed: /, '')}`).join('; ')}`;
    d.setWorkflow({ status: 'failed', error, completed_at: d.now, last_progress_at: d.now });
    d.event({ type: 'workflow.rollback_failed', data: { error } });
    d.emit('provisioning.workflow.failed');
    return;
  }
  if (d.wf.cancel_requested_at !== null) {
    d.setWorkflow({ status: 'cancelled', completed_at: d.now, last_progress_at: d.now });
    d.event({ type: 'workflow.cancelled', data: { compensated: true } });
    d.emit('provisioning.workflow.cancelled');
    return;
  }
  d.setWorkflow({ status: 'rolled_back', completed_at: d.now, last_progress_at: d.now });
  d.event({ type: 'workflow.rolled_back' });
  d.emit('provisioning.workflow.rolled_back');
}

function describeFailures(failed: StepRecord[]): string {
  return failed.map((s) => `step ${s.name} failed: ${s.error ?? 'unknown error'}`).join('; ');
}
