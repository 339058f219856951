import type { Store } from '../store/store.js';
import { Conflict, NotFound } from '../domain/errors.js';
import type { StepStatus } from '../domain/model.js';
import { advance, cancelUnfinished, startRollback } from './progress.js';
import { effectiveRetry } from './retry.js';
import { StaleWrite, WorkflowUnit, announceCommit } from './unit.js';

export interface Actor { actor: string | null; reason: string | null }

/** Operator repairs (DESIGN §5 admin). Each runs under the workflow's lock and is an audit event. */
export function createAdminActions(deps: { store: Store; clock?: () => number }) {
  const { store } = deps;
  const now = deps.clock ?? Date.now;

  async function inUnit(workflowId: string, fn: (u: WorkflowUnit) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        let committed: WorkflowUnit | null = null;
        await store.transaction(async (tx) => {
          const u = await WorkflowUnit.load(tx, workflowId, now());
          if (!u) throw new NotFound(`workflow ${workflowId} not found`);
          await fn(u);
          await u.flush();
          committed = u;
        });
        announceCommit(store.dialect.wakeups(), committed);
        return;
      } catch (e) {
        // A worker claimed a step between our read and write: decide again on fresh rows.
        if (e instanceof StaleWrite && attempt < 5) continue;
        throw e;
      }
    }
  }

  async function forceComplete(workflowId: string, a: Actor) {
    await inUnit(workflowId, async (u) => {
      if (!['pending', 'running', 'failed'].includes(u.status)) {
        throw new Conflict(`workflow ${workflowId} is ${u.status}; force-complete applies to pending, running or failed workflows`);
      }
      u.event({ type: 'admin.force_complete', actor: a.actor, reason: a.reason });
      await cancelUnfinished(u, ['pending', 'running', 'waiting_callback', 'waiting_poll'], 'skipped', a);
      u.setWorkflow({ status: 'completed', completed_at: u.now, error: null, last_progress_at: u.now });
      u.event({ type: 'workflow.completed', actor: a.actor, reason: a.reason, data: { forced: true } });
      u.emit('provisioning.workflow.completed');
    });
  }

  async function retryStep(workflowId: string, stepName: string, a: Actor) {
    await inUnit(workflowId, async (u) => {
      if (['rolling_back', 'rolled_back', 'cancelled'].includes(u.status)) {
        throw new Conflict(`workflow ${workflowId} is ${u.status}; retry-step only applies before a rollback or cancel`);
      }
      if (hasRolledBack(u)) {
        throw new Conflict(`workflow ${workflowId} failed during its rollback; its steps were undone, so retry-step cannot resume it. Start a new workflow`);
      }
      const s = u.step(stepName);
      if (!s) throw new NotFound(`workflow ${workflowId} has no step "${stepName}"`);
      if (s.status !== 'failed' || WorkflowUnit.state(s).compensation_failed === true) {
        throw new Conflict(`step ${stepName} is ${s.status}; retry-step only applies to failed steps`);
      }
      const state = { ...WorkflowUnit.state(s) };
      delete state.timed_out;
      // Each retry gets a fresh attempt budget; attempt numbers keep counting so idempotency keys stay unique.
      await u.writeStep(s, {
        status: 'pending', retry_count: s.retry_count + 1, max_attempts: s.attempt + effectiveRetry(WorkflowUnit.spec(s).retry).max_attempts,
        next_run_at: u.now, deadline_at: null, completed_at: null, waiting_reason: 'queued by an operator retry',
        state: JSON.stringify(state), report_hash: null, early_report: null,
      }, { from: ['failed'] });
      u.event({ type: 'admin.retry_step', step: stepName, actor: a.actor, reason: a.reason });
      if (u.status !== 'running') {
        u.setWorkflow({ status: 'running', error: null, completed_at: null, last_progress_at: u.now });
        u.event({ type: 'workflow.resumed', actor: a.actor, reason: a.reason });
      }
      // Steps the failure kept from starting are ready again too (unless another step is still failed).
      await advance(u);
      u.wake = true;
    }).catch((e: unknown) => {
      if (store.dialect.isUniqueViolation(e)) throw new Conflict(`another workflow of this tenant and service is active; cancel it before retrying ${workflowId}`);
      throw e;
    });
  }

  async function cancel(workflowId: string, compensate: boolean, a: Actor) {
    await inUnit(workflowId, async (u) => {
      if (!['pending', 'running', 'failed', 'rolling_back'].includes(u.status)) {
        throw new Conflict(`workflow ${workflowId} is already ${u.status}; nothing to cancel`);
      }
      u.event({ type: 'admin.cancel', actor: a.actor, reason: a.reason, data: { compensate } });
      if (compensate && u.wf.kind === 'provision' && u.status !== 'rolling_back') {
        // Roll back first; the rollback then ends the workflow `cancelled` (DESIGN §7: any non-terminal → cancelled).
        u.setWorkflow({ cancel_requested_at: u.now });
        await startRollback(u, `cancelled by an operator${a.reason ? `: ${a.reason}` : ''}`, a);
        return;
      }
      const unfinished: StepStatus[] = ['pending', 'running', 'waiting_callback', 'waiting_poll', 'compensating'];
      await cancelUnfinished(u, unfinished, 'cancelled', a);
      u.setWorkflow({ status: 'cancelled', completed_at: u.now, last_progress_at: u.now, error: u.wf.error ?? (a.reason ? `cancelled: ${a.reason}` : 'cancelled by an operator') });
      u.event({ type: 'workflow.cancelled', actor: a.actor, reason: a.reason });
      u.emit('provisioning.workflow.cancelled');
    });
  }

  return { forceComplete, retryStep, cancel };
}

export type AdminActions = ReturnType<typeof createAdminActions>;

/** A workflow whose rollback ended incomplete is `failed` too, but has nothing left to resume. */
function hasRolledBack(u: WorkflowUnit): boolean {
  return u.steps.some((s) => s.status === 'compensating' || s.status === 'compensated' || WorkflowUnit.state(s).compensation_failed === true);
}
