import type { WorkflowKind, WorkflowStatus } from './model.js';
import { isActiveWorkflow } from './model.js';

/**
 * Where a tenant's service stands (issue 12 item 5), derived from the workflows that *completed*
 * and the one still active, never from "the latest workflow". Pure: the store supplies the inputs.
 *
 *   not_provisioned → provisioning → provisioned → updating → provisioned → deprovisioning → not_provisioned
 *   provisioning ⇢ provision_failed (a re-provision may follow); deprovisioning ⇢ deprovision_failed
 *   (a deprovision may be retried); a failed update leaves the service provisioned as it was.
 */
export const ServiceStates = [
  'not_provisioned',
  'provisioning',
  'provisioned',
  'updating',
  'deprovisioning',
  'provision_failed',
  'deprovision_failed',
] as const;
export type ServiceState = (typeof ServiceStates)[number];

/** The few columns of a workflow the derivation reads. */
export interface WorkflowFact {
  id: string;
  kind: WorkflowKind;
  status: WorkflowStatus;
}

export interface StateInputs<W extends WorkflowFact> {
  /** The newest workflow of the tenant × service whose kind is provision, update or deprovision and that completed. */
  lastCompleted: W | null;
  /** The newest workflow of the tenant × service, whatever its status. */
  latest: W | null;
  /** The workflow still under way (at most one: the database refuses a second). */
  active: W | null;
}

export interface DerivedState<W extends WorkflowFact> {
  state: ServiceState;
  /** The completed provision or update whose result is in force, while the service is (still) provisioned. */
  current: W | null;
  /** The workflow under way, if any. */
  active: W | null;
  /** A workflow that ended without completing after `current` (a failed provision, update or deprovision). */
  lastFailure: W | null;
}

const ACTIVE_STATE: Record<WorkflowKind, ServiceState> = { provision: 'provisioning', update: 'updating', deprovision: 'deprovisioning' };

export function deriveServiceState<W extends WorkflowFact>(i: StateInputs<W>): DerivedState<W> {
  const base = i.lastCompleted;
  const provisioned = base !== null && base.kind !== 'deprovision';
  const current = provisioned ? base : null;
  const ended = i.latest !== null && !isActiveWorkflow(i.latest.status) ? i.latest : null;
  const lastFailure = ended !== null && ended.status !== 'completed' && (base === null || ended.id > base.id) ? ended : null;
  if (i.active) return { state: ACTIVE_STATE[i.active.kind], current, active: i.active, lastFailure };
  let state: ServiceState = provisioned ? 'provisioned' : 'not_provisioned';
  if (lastFailure?.kind === 'provision' && !provisioned) state = 'provision_failed';
  if (lastFailure?.kind === 'deprovision') state = 'deprovision_failed';
  return { state, current, active: null, lastFailure };
}

/** Which kinds of workflow may start from a state; the reason says what to do instead. */
export function startRefusal<W extends WorkflowFact>(
  kind: WorkflowKind,
  d: DerivedState<W>,
  who: { tenantId: string; serviceSlug: string },
): string | null {
  const what = `${who.serviceSlug} of tenant ${who.tenantId}`;
  if (d.active) {
    return `workflow ${d.active.id} (${d.active.kind}) for ${what} is still ${d.active.status}; wait for it to end or cancel it`;
  }
  if (kind === 'provision') {
    if (d.state === 'provisioned')
      return `${what} is already provisioned by workflow ${d.current?.id}; start a workflow of kind "update" to change it, or deprovision it first`;
    if (d.state === 'deprovision_failed')
      return `the deprovision of ${what} (workflow ${d.lastFailure?.id}) failed; deprovision it again before provisioning`;
    return null;
  }
  if (kind === 'update') {
    if (d.state === 'provisioned') return null;
    return `${what} is ${d.state.replace('_', ' ')}, not provisioned; only a provisioned service can be updated (provision it first)`;
  }
  if (d.state === 'provisioned' || d.state === 'deprovision_failed') return null;
  return `tenant ${who.tenantId} has no provisioned ${who.serviceSlug} to deprovision (it is ${d.state.replace('_', ' ')})`;
}
