import type { Queryable } from '../store/queryable.js';
import { serviceStateRepo } from '../store/service-state-repo.js';
import { toWorkflow, type WorkflowRow } from '../store/workflows-repo.js';
import { deriveServiceState, type DerivedState } from '../domain/service-state.js';
import type { Workflow } from '../domain/model.js';
import type { JsonObject } from '../domain/json.js';
import type { CredentialCipher } from './credential-cipher.js';

export type ServiceStateOf = DerivedState<Workflow> & {
  rows: { current: WorkflowRow | null; active: WorkflowRow | null };
  lastCompletedId: string | null;
};

/** The tenant × service's provisioned state, read in one place for the starter, the status view and the registry. */
export async function loadServiceState(db: Queryable, tenantId: string, serviceSlug: string): Promise<ServiceStateOf> {
  const i = await serviceStateRepo.inputs(db, tenantId, serviceSlug);
  const byId = new Map<string, WorkflowRow>();
  for (const r of [i.lastCompleted, i.latest, i.active]) if (r) byId.set(r.id, r);
  const map = (r: WorkflowRow | null) => (r ? toWorkflow(r) : null);
  const d = deriveServiceState({ lastCompleted: map(i.lastCompleted), latest: map(i.latest), active: map(i.active) });
  return {
    ...d,
    rows: { current: d.current ? (byId.get(d.current.id) ?? null) : null, active: i.active },
    lastCompletedId: i.lastCompleted?.id ?? null,
  };
}

export interface ProvisionedResult {
  /** The provision workflow at the root of what is provisioned (its steps are `provision.steps` to updates). */
  provisionId: string;
  parameters: JsonObject;
  /** The newest endpoint reported by the provision or a later update. */
  endpoint: string | null;
  /** Credentials merged in order: an update's keys over the provisioning's. */
  credentials: string[];
}

/** What is in force while provisioned: the completed provision and the completed updates after it. */
export async function provisionedResult(db: Queryable, current: WorkflowRow): Promise<ProvisionedResult | null> {
  const chain = await serviceStateRepo.provisionedChain(db, current.tenant_id, current.service_slug, current.id);
  if (chain.length === 0) return null;
  let endpoint: string | null = null;
  for (const w of chain) if (w.endpoint !== null) endpoint = w.endpoint;
  return {
    provisionId: chain[0].id,
    parameters: toWorkflow(current).parameters,
    endpoint,
    credentials: chain.flatMap((w) => (w.credentials === null ? [] : [w.credentials])),
  };
}

export function mergeCredentials(cipher: CredentialCipher, sealed: string[]): JsonObject | null {
  if (sealed.length === 0) return null;
  return Object.assign({}, ...sealed.map((c) => cipher.decrypt(c)));
}
