import type { Store } from '../store/store.js';
import { stepsRepo, type StepRow } from '../store/steps-repo.js';
import { toJsonColumn, fromJsonColumn } from '../store/columns.js';
import { Conflict, Gone, NotFound } from '../domain/errors.js';
import type { Report, StepStatus } from '../domain/model.js';
import { reportHash } from '../domain/report.js';
import type { StepTypeName, CallbackStepSpec } from '../domain/step-specs.js';
import { CALLBACK_TOKEN_PATTERN, hashToken, type CredentialCipher } from './credential-cipher.js';
import { stepTypeOf } from './step-types/index.js';
import { applyStepOutcome } from './outcomes.js';
import { StaleWrite, WorkflowUnit, announceCommit } from './unit.js';
import { sealEarlyReport } from './early-report.js';

export const CALLBACK_PATH = '/api/v1/provisioning/callback';
export const callbackUrl = (publicUrl: string) => `${publicUrl}${CALLBACK_PATH}`;

export interface CallbackResult {
  workflow_id: string;
  step_name: string;
  step_status: StepStatus;
  duplicate: boolean;
}

export interface CallbackDeps {
  store: Store;
  cipher: CredentialCipher;
  clock?: () => number;
  onOutcome?: (outcome: 'accepted' | 'duplicate' | 'heartbeat' | 'early' | 'rejected') => void;
}

/**
 * A service reports on a callback step (DESIGN §5.1). Every path runs under the workflow's lock, so
 * concurrent identical callbacks make exactly one transition and the rest see `duplicate: true`.
 */
/** A duplicate changes nothing: thrown out of the transaction so even the lock's touch is rolled back. */
class Unchanged extends Error {
  constructor(readonly result: CallbackResult) { super('duplicate callback'); }
}

export function createCallbackReceiver(deps: CallbackDeps) {
  const now = deps.clock ?? Date.now;

  async function receive(token: string, report: Report): Promise<CallbackResult> {
    // The format is checked before any lookup, so garbage never reaches the database.
    if (!CALLBACK_TOKEN_PATTERN.test(token)) throw new NotFound('unknown callback token; use the callback_token sent with the request');
    const found = await stepsRepo.findByTokenHash(deps.store.db, hashToken(token));
    if (!found) throw new NotFound('unknown callback token; use the callback_token sent with the request');
    for (let attempt = 1; ; attempt++) {
      try {
        return await receiveOnce(found, report);
      } catch (e) {
        // A worker claimed or released the step between our read and write: decide again on fresh rows.
        if (e instanceof StaleWrite && attempt < 5) continue;
        throw e;
      }
    }
  }

  async function receiveOnce(found: StepRow, report: Report): Promise<CallbackResult> {
    let committed: WorkflowUnit | null = null;
    const result = await deps.store.transaction(async (tx): Promise<CallbackResult> => {
      const u = await WorkflowUnit.load(tx, found.workflow_id, now());
      const s = u?.stepById(found.id);
      if (!u || !s) throw new NotFound('unknown callback token; use the callback_token sent with the request');
      const out = (duplicate: boolean): CallbackResult => ({ workflow_id: u.wf.id, step_name: s.name, step_status: s.status as StepStatus, duplicate });
      const status = s.status as StepStatus;
      const spec = WorkflowUnit.spec(s) as CallbackStepSpec;
      // Past the deadline the wait is over, whether or not a worker has recorded that yet.
      if (status === 'waiting_callback' && s.deadline_at !== null && u.now >= s.deadline_at) {
        deps.onOutcome?.('rejected');
        throw new Gone(`the wait of step ${s.name} expired at ${new Date(s.deadline_at).toISOString()}; ask an operator to retry the step`);
      }

      if (report.status === 'in_progress') {
        if (status === 'waiting_callback') {
          const heartbeatMs = (spec.wait?.heartbeat_s ?? spec.wait?.timeout_s ?? 3600) * 1000;
          const deadline = Math.max(s.deadline_at ?? 0, u.now + heartbeatMs);
          await u.writeStep(s, { deadline_at: deadline, next_run_at: deadline, ...(report.metadata ? { progress: toJsonColumn(report.metadata) } : {}) }, { from: ['waiting_callback'] });
          u.event({ type: 'step.heartbeat', step: s.name, attempt: s.attempt, data: { deadline_at: new Date(deadline).toISOString() } });
          u.setWorkflow({ last_progress_at: u.now });
          await u.flush();
          deps.onOutcome?.('heartbeat');
          return out(false);
        }
        if (status === 'running' || (status === 'pending' && s.attempt > 0)) {
          if (report.metadata) await u.writeStep(s, { progress: toJsonColumn(report.metadata) }, { from: [status] });
          await u.flush();
          deps.onOutcome?.('heartbeat');
          return out(false);
        }
        throw endedError(s, 'an in_progress report');
      }

      const hash = reportHash(report);
      if (status === 'running') {
        // The request that started the wait has not returned yet: keep the report; the worker applies it.
        if (s.early_report !== null) {
          if (s.report_hash === hash) { deps.onOutcome?.('duplicate'); throw new Unchanged(out(true)); }
          throw new Conflict(`step ${s.name} already received a different ${fromJsonColumn<Report>(s.early_report)?.status} report`);
        }
        await u.writeStep(s, { early_report: sealEarlyReport(report, deps.cipher), report_hash: hash }, { from: ['running'] });
        u.event({ type: 'step.callback', step: s.name, attempt: s.attempt, data: { status: report.status, early: true } });
        await u.flush();
        deps.onOutcome?.('early');
        return out(false);
      }
      if (status === 'waiting_callback' || (status === 'pending' && s.attempt > 0)) {
        const onReport = stepTypeOf(spec.type as StepTypeName).onReport;
        if (!onReport) throw new Conflict(`step ${s.name} is a ${spec.type} step and takes no callbacks`);
        await u.writeStep(s, { report_hash: hash }, { from: [status] });
        u.event({ type: 'step.callback', step: s.name, attempt: s.attempt, data: { status: report.status } });
        await applyStepOutcome(u, s, onReport(spec, report, u.now), { guard: { from: [status] }, trigger: 'callback' }, deps.cipher);
        await u.flush();
        committed = u;
        deps.onOutcome?.('accepted');
        return out(false);
      }
      // The accepted report stays identifiable after the step moves on (e.g. to compensated in a rollback).
      if ((['completed', 'failed', 'compensating', 'compensated'] as StepStatus[]).includes(status) && s.report_hash === hash) {
        deps.onOutcome?.('duplicate');
        throw new Unchanged(out(true));
      }
      throw endedError(s, `a ${report.status} report`);
    }).catch((e: unknown) => {
      if (e instanceof Unchanged) return e.result;
      throw e;
    });
    announceCommit(deps.store.dialect.wakeups(), committed);
    return result;
  }

  function endedError(s: StepRow, what: string) {
    deps.onOutcome?.('rejected');
    if (s.status === 'failed' && WorkflowUnit.state(s).timed_out === true) {
      return new Gone(`the wait of step ${s.name} expired at ${s.completed_at ? new Date(s.completed_at).toISOString() : 'its deadline'}; ask an operator to retry the step`);
    }
    if (s.status === 'pending') return new Conflict(`step ${s.name} has not started yet; callbacks are accepted once its request is sent`);
    return new Conflict(`step ${s.name} is already ${s.status}; ${what} cannot change it`);
  }

  return { receive };
}
