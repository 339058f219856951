import type { CallbackStepSpec } from '../../domain/step-specs.js';
import { STEP_DEFAULTS } from '../../domain/step-specs.js';
import type { Report } from '../../domain/model.js';
import { bodyAsOutput, renderRequest, sendRequest } from './request.js';
import type { Json } from '../../domain/json.js';
import type { StepOutcome, StepType } from './step-type.js';

/** A deadline handled this late was missed by us, not by the service (a live engine handles it within a poll interval). */
const OUTAGE_MS = 10_000;

/** Sends its request (if any), then waits until the service calls back or the deadline passes. */
export const callbackStep: StepType<CallbackStepSpec> = {
  async run(ctx, spec) {
    if (ctx.trigger === 'deadline') {
      // Handled long after the deadline: no process was running (an outage of ours, during which the
      // service could not reach us either). The service gets one fresh wait before it is timed out.
      if (ctx.deadlineAt !== null && ctx.now - ctx.deadlineAt > OUTAGE_MS && ctx.state.outage_grace !== true) {
        const deadlineAt = ctx.now + (spec.wait?.timeout_s ?? STEP_DEFAULTS.wait_timeout_s) * 1000;
        return {
          kind: 'waiting',
          status: 'waiting_callback',
          nextRunAt: deadlineAt,
          deadlineAt,
          state: { outage_grace: true },
          reason: `the wait expired while no worker was running; waiting once more for the callback until ${new Date(deadlineAt).toISOString()}`,
        };
      }
      const error = 'timed out waiting for callback';
      return spec.retry?.on_wait_timeout ? { kind: 'retry', error } : { kind: 'failed', error };
    }
    let what = 'the service';
    let response: Json | undefined;
    if (spec.request) {
      const req = renderRequest(spec.request, ctx.scope);
      const answer = await sendRequest(ctx.http, req);
      if (!answer.ok) return answer.outcome;
      what = `${req.method} ${spec.request.path}`;
      response = bodyAsOutput(answer.res);
    }
    const deadlineAt = ctx.now + (spec.wait?.timeout_s ?? STEP_DEFAULTS.wait_timeout_s) * 1000;
    return {
      kind: 'waiting',
      status: 'waiting_callback',
      reason: `waiting for the callback of ${what} until ${new Date(deadlineAt).toISOString()}`,
      nextRunAt: deadlineAt,
      deadlineAt,
      ...(response !== undefined ? { response } : {}),
    };
  },

  heartbeatMs(spec) {
    return (spec.wait?.heartbeat_s ?? spec.wait?.timeout_s ?? STEP_DEFAULTS.wait_timeout_s) * 1000;
  },

  onReport(spec, report: Report): StepOutcome {
    if (report.status === 'completed') {
      return { kind: 'completed', output: report.metadata ?? {}, report: { endpoint: report.endpoint, credentials: report.credentials } };
    }
    const error = `the service reported failure: ${report.error ?? 'no reason given'}`;
    return spec.retry?.on_reported_failure ? { kind: 'retry', error } : { kind: 'failed', error };
  },
};
