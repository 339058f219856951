import type { StepRow } from '../store/steps-repo.js';
import { InFlightStepStatuses, SatisfiedStepStatuses, type StepStatus } from '../domain/model.js';
import { WorkflowUnit } from './unit.js';
import { ancestorsOf } from '../domain/dag.js';

/**
 * Decides what a workflow does next after any change (DESIGN §7): start ready steps, finish, hold
 * on failure, or roll back. Idempotent: calling it twice changes nothing the second time.
 */
export async function advance(u: WorkflowUnit): Promise<void> {
  if (u.status === 'rolling_back') return rollbackProgress(u);
  if (u.status !== 'running' && u.status !== 'pending' && u.status !== 'failed') return;

  const failed = u.steps.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    if (u.wf.on_failure === 'rollback' && u.wf.kind === 'provision' && u.status !== 'failed') {
      return startRollback(u, describeFailures(failed), null);
    }
    // hold: nothing new starts. Steps queued but never attempted go back to waiting (retry-step re-queues
    // them through advance); steps already under way carry on; the workflow is failed once none is left.
    for (const s of u.steps) {
      if (s.status === 'pending' && s.attempt === 0 && s.next_run_at !== null) {
        await u.writeStep(s, { next_run_at: null, waiting_reason: null }, { from: ['pending'] });
      }
    }
    const underWay = u.steps.some((s) => isInFlight(s.status) || (s.status === 'pending' && s.next_run_at !== null));
    if (!underWay && u.status !== 'failed') {
      u.setWorkflow({ status: 'failed', error: describeFailures(failed), last_progress_at: u.now });
      u.event({ type: 'workflow.failed', data: { error: describeFailures(failed), on_failure: 'hold' } });
      u.emit('provisioning.workflow.failed');
    }
    return;
  }

  if (u.status === 'failed') return; // held, waiting for an operator; retry-step sets it running again

  if (u.steps.every((s) => isSatisfied(s.status))) {
    u.setWorkflow({ status: 'completed', completed_at: u.now, error: null, last_progress_at: u.now });
    u.event({ type: 'workflow.completed' });
    u.emit('provisioning.workflow.completed');
    return;
  }

  for (const s of u.steps) {
    if (s.status !== 'pending' || s.next_run_at !== null) continue;
    const ready = WorkflowUnit.deps(s).every((d) => { const dep = u.step(d); return dep !== undefined && isSatisfied(dep.status); });
    if (ready) {
      await u.writeStep(s, { next_run_at: u.now, waiting_reason: null }, { from: ['pending'] });
      u.wake = true;
    }
  }
}

/** Rollback: cancel what has not started or waits, let requests in flight finish, then compensate. */
export async function startRollback(u: WorkflowUnit, error: string, actor: { actor: string | null; reason: string | null } | null) {
  const wasFailed = u.status !== 'failed';
  u.setWorkflow({ status: 'rolling_back', error, last_progress_at: u.now });
  if (wasFailed && actor === null) {
    u.event({ type: 'workflow.failed', data: { error, on_failure: 'rollback' } });
    u.emit('provisioning.workflow.failed');
  }
  u.event({ type: 'workflow.rolling_back', actor: actor?.actor, reason: actor?.reason });
  await cancelUnfinished(u, ['pending', 'waiting_callback', 'waiting_poll'], 'cancelled');
  await rollbackProgress(u);
}

export async function cancelUnfinished(u: WorkflowUnit, from: readonly StepStatus[], to: 'cancelled' | 'skipped', actor?: { actor: string | null; reason: string | null }) {
  for (const s of u.steps) {
    if (!from.includes(s.status as StepStatus)) continue;
    // Clearing the lease voids the outcome of a worker still running this step.
    await u.writeStep(s, {
      status: to, next_run_at: null, deadline_at: null, lease_owner: null, lease_expires_at: null, waiting_reason: null,
      completed_at: u.now,
    }, { from: [s.status as StepStatus] });
    u.event({ type: `step.${to}`, step: s.name, actor: actor?.actor, reason: actor?.reason });
  }
}

async function rollbackProgress(u: WorkflowUnit): Promise<void> {
  if (u.steps.some((s) => s.status === 'running')) return; // a request in flight finishes its attempt first
  const compensable = (s: StepRow) => s.status === 'completed' && WorkflowUnit.spec(s).compensate !== undefined;
  // Transitive, not only direct children: a -> b (nothing to undo) -> c waits for c's compensation before a's.
  const ancestors = ancestorsOf(u.steps.map((s) => ({ name: s.name, depends_on: WorkflowUnit.deps(s) })));
  for (const s of u.steps) {
    if (!compensable(s)) continue;
    const descendants = u.steps.filter((c) => ancestors.get(c.name)?.has(s.name));
    if (descendants.some((c) => compensable(c) || c.status === 'compensating')) continue;
    await u.writeStep(s, { status: 'compensating', next_run_at: u.now, waiting_reason: 'compensation queued' }, { from: ['completed'] });
    u.event({ type: 'step.compensating', step: s.name });
    u.wake = true;
  }
  if (u.steps.some((s) => s.status === 'compensating')) return;

  const compFailed = u.steps.filter((s) => WorkflowUnit.state(s).compensation_failed === true);
  if (compFailed.length > 0) {
    const error = `rollback incomplete: ${compFailed.map((s) => `compensation of ${s.name} failed: ${s.error ?? 'unknown error'}`).join('; ')}`;
    u.setWorkflow({ status: 'failed', error, completed_at: u.now, last_progress_at: u.now });
    u.event({ type: 'workflow.rollback_failed', data: { error } });
    u.emit('provisioning.workflow.failed');
    return;
  }
  if (u.wf.cancel_requested_at !== null) {
    u.setWorkflow({ status: 'cancelled', completed_at: u.now, last_progress_at: u.now });
    u.event({ type: 'workflow.cancelled', data: { compensated: true } });
    u.emit('provisioning.workflow.cancelled');
    return;
  }
  u.setWorkflow({ status: 'rolled_back', completed_at: u.now, last_progress_at: u.now });
  u.event({ type: 'workflow.rolled_back' });
  u.emit('provisioning.workflow.rolled_back');
}

const isSatisfied = (s: string) => (SatisfiedStepStatuses as readonly string[]).includes(s);
const isInFlight = (s: string) => (InFlightStepStatuses as readonly string[]).includes(s);

function describeFailures(failed: StepRow[]): string {
  return failed.map((s) => `step ${s.name} failed: ${s.error ?? 'unknown error'}`).join('; ');
}
