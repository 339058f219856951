import type { HttpStepSpec } from '../../domain/step-specs.js';
import { bodyAsOutput, renderRequest, reportedResult, sendRequest } from './request.js';
import type { StepType } from './step-type.js';

/** One request; its 2xx answer is the step's output. */
export const httpStep: StepType<HttpStepSpec> = {
  async run(ctx, spec) {
    const answer = await sendRequest(ctx.http, renderRequest(spec.request, ctx.scope));
    if (!answer.ok) return answer.outcome;
    return { kind: 'completed', output: bodyAsOutput(answer.res), report: reportedResult(answer.res.json) };
  },
};
