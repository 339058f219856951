import type { StepOutcome } from '../../domain/step-outcome.js';
import type { StepSpec } from '../../domain/step-specs.js';
import type { TemplateScope } from '../../domain/template.js';
import type { Outbound } from '../outbound.js';
import { renderRequest, sendRequest } from './request.js';

/** HTTP statuses of a compensation that mean "already undone". */
const ALREADY_UNDONE_STATUSES: readonly number[] = [404, 410];

/**
 * Undoes a step by sending its `compensate` request. A 404 or 410 answer means the thing is already
 * gone, which is what compensation wants: it counts as undone, so a repeated rollback is idempotent.
 */
export async function compensate(http: Outbound, spec: StepSpec, scope: TemplateScope): Promise<StepOutcome> {
  if (!spec.compensate) return { kind: 'completed', output: null };
  const answer = await sendRequest(http, renderRequest(spec.compensate, scope), { alsoOk: ALREADY_UNDONE_STATUSES });
  return answer.ok ? { kind: 'completed', output: null } : answer.outcome;
}
