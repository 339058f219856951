import type { StepOutcome } from '../../domain/step-outcome.js';
import type { StepSpec } from '../../domain/step-specs.js';
import type { TemplateScope } from '../../domain/template.js';
import type { Outbound } from '../outbound.js';
import { renderRequest, sendRequest } from './request.js';

/** HTTP statuses of a compensation that mean "already undone", unless the manifest says otherwise. */
const ALREADY_UNDONE_STATUSES: readonly number[] = [404, 410];

/**
 * Undoes a step by sending its `compensate` request. A 404 or 410 answer means the thing is already
 * gone, which is what compensation wants: it counts as undone, so a repeated rollback is idempotent.
 * `compensate.undone_statuses` replaces that list.
 */
export async function compensate(http: Outbound, spec: StepSpec, scope: TemplateScope): Promise<StepOutcome> {
  if (!spec.compensate) return { kind: 'completed', output: null };
  const { undone_statuses: undone = ALREADY_UNDONE_STATUSES, ...request } = spec.compensate;
  const answer = await sendRequest(http, renderRequest(request, scope), { alsoOk: undone });
  return answer.ok ? { kind: 'completed', output: null } : answer.outcome;
}
