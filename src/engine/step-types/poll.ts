import { isJsonObject } from '../../domain/json.js';
import type { PollStepSpec } from '../../domain/step-specs.js';
import { STEP_DEFAULTS } from '../../domain/step-specs.js';
import { parseReport } from '../../domain/report.js';
import type { Report } from '../../domain/model.js';
import { bodyAsOutput, renderRequest, sendRequest } from './request.js';
import type { StepContext, StepOutcome, StepType } from './step-type.js';

/** Starts the work with one request, then polls the Location header, body.poll_url or poll.path until a final status. */
export const pollStep: StepType<PollStepSpec> = {
  async run(ctx, spec) {
    const intervalMs = (spec.poll?.interval_s ?? STEP_DEFAULTS.poll_interval_s) * 1000;
    if (ctx.trigger === 'deadline') {
      // One last look: the work may have finished since the previous poll, or while no process could poll
      // (a crashed replica held the step). Only an answer that is still not final times the step out.
      const last = await lastPoll(ctx, spec);
      if (last) return last;
      const error = 'timed out waiting for poll';
      return spec.retry?.on_wait_timeout ? { kind: 'retry', error } : { kind: 'failed', error };
    }
    if (ctx.trigger === 'attempt') {
      const answer = await sendRequest(ctx.http, renderRequest(spec.request, ctx.scope));
      if (!answer.ok) return answer.outcome;
      const body = answer.res.json;
      const pollUrl =
        spec.poll?.path ??
        answer.res.headers.get('location') ??
        (isJsonObject(body) && typeof body.poll_url === 'string' ? body.poll_url : null);
      const report = parseReport(body);
      if (report && report.status !== 'in_progress') return fromReport(spec, report);
      if (!pollUrl)
        return {
          kind: 'failed',
          error: `${spec.request.path} answered ${answer.res.status} without a Location header, body.poll_url or a final status; set poll.path in the manifest`,
        };
      const deadlineAt = ctx.now + (spec.poll?.timeout_s ?? STEP_DEFAULTS.poll_timeout_s) * 1000;
      return {
        ...waiting(ctx, { poll_url: pollUrl }, deadlineAt, intervalMs, report?.metadata ?? null, null),
        response: bodyAsOutput(answer.res),
      } as StepOutcome;
    }
    const pollUrl = typeof ctx.state.poll_url === 'string' ? ctx.state.poll_url : null;
    const deadlineAt = ctx.deadlineAt ?? ctx.now;
    if (!pollUrl) return { kind: 'failed', error: 'lost the poll URL; retry the step' };
    const answer = await sendRequest(ctx.http, { method: 'GET', target: pollUrl });
    if (!answer.ok) {
      // A transient error while polling is not the end of the work: keep polling until the deadline.
      // Retry-After is honoured here too: the next poll waits for it (never past the deadline).
      if (answer.outcome.kind === 'retry')
        return waiting(ctx, ctx.state, deadlineAt, intervalMs, null, answer.outcome.error, answer.outcome.notBefore);
      return answer.outcome;
    }
    const report = parseReport(answer.res.json);
    if (!report) {
      return waiting(
        ctx,
        ctx.state,
        deadlineAt,
        intervalMs,
        null,
        `poll answer ${answer.res.status} was not {status: completed|failed|in_progress}`,
      );
    }
    if (report.status === 'in_progress') return waiting(ctx, ctx.state, deadlineAt, intervalMs, report.metadata ?? null, null);
    return fromReport(spec, report);
  },
};

async function lastPoll(ctx: StepContext, spec: PollStepSpec): Promise<StepOutcome | null> {
  const pollUrl = typeof ctx.state.poll_url === 'string' ? ctx.state.poll_url : null;
  if (!pollUrl) return null;
  const answer = await sendRequest(ctx.http, { method: 'GET', target: pollUrl });
  const report = answer.ok ? parseReport(answer.res.json) : null;
  return report && report.status !== 'in_progress' ? fromReport(spec, report) : null;
}

function waiting(
  ctx: StepContext,
  state: StepContext['state'],
  deadlineAt: number,
  intervalMs: number,
  progress: Report['metadata'],
  lastError: string | null,
  notBefore?: number,
): StepOutcome {
  const nextRunAt = Math.min(deadlineAt, Math.max(ctx.now + intervalMs, notBefore ?? 0));
  const url = typeof state.poll_url === 'string' ? state.poll_url : '?';
  const note = lastError ? `; last poll failed: ${lastError}` : '';
  return {
    kind: 'waiting',
    status: 'waiting_poll',
    reason: `polling ${url} every ${intervalMs / 1000} s until ${new Date(deadlineAt).toISOString()}${note}`,
    nextRunAt,
    deadlineAt,
    state,
    progress: progress ?? undefined,
  };
}

function fromReport(spec: PollStepSpec, report: Report): StepOutcome {
  if (report.status === 'completed') {
    return { kind: 'completed', output: report.metadata ?? {}, report: { endpoint: report.endpoint, credentials: report.credentials } };
  }
  const error = `the service reported failure: ${report.error ?? 'no reason given'}`;
  return spec.retry?.on_reported_failure ? { kind: 'retry', error } : { kind: 'failed', error };
}
