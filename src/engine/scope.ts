import type { Queryable } from '../store/queryable.js';
import { stepsRepo, type StepRow } from '../store/steps-repo.js';
import type { WorkflowRow } from '../store/workflows-repo.js';
import { fromJsonColumn } from '../store/columns.js';
import type { Json, JsonObject } from '../domain/json.js';
import type { StepOutputs, TemplateScope } from '../domain/template.js';
import { serviceStateRepo } from '../store/service-state-repo.js';

/** The template scope of a step (DESIGN §6): tenant, workflow, service, parameters and step outputs. */
export async function buildScope(db: Queryable, wf: WorkflowRow, steps: readonly StepResults[]): Promise<TemplateScope> {
  const own = outputsOf(steps);
  let provision: StepOutputs | undefined;
  if (wf.provision_workflow_id) provision = outputsOf(await stepsRepo.listForWorkflow(db, wf.provision_workflow_id));
  // An update reads the parameters it changes: those of the provision or update in force before it.
  const before = wf.kind === 'update' ? await serviceStateRepo.completedBefore(db, wf.tenant_id, wf.service_slug, wf.id) : null;
  return {
    tenant: { id: wf.tenant_id },
    workflow: { id: wf.id, kind: wf.kind },
    service: { slug: wf.service_slug, version: wf.service_version, base_url: wf.base_url },
    parameters: fromJsonColumn<JsonObject>(wf.parameters) ?? {},
    // Compensations run as a deprovision read the provisioning's outputs under `steps` too.
    steps: { ...(provision ?? {}), ...own },
    ...(provision ? { provision: { steps: provision } } : {}),
    ...(wf.kind === 'update' ? { previous: { parameters: (before && fromJsonColumn<JsonObject>(before.parameters)) ?? {} } } : {}),
  };
}

export type StepResults = Pick<StepRow, 'name' | 'output'> & { response?: string | null };

function outputsOf(steps: readonly StepResults[]): StepOutputs {
  const out: StepOutputs = {};
  for (const s of steps) {
    if (s.output === null && !s.response) continue;
    out[s.name] = {
      output: fromJsonColumn<Json>(s.output) ?? {},
      ...(s.response ? { response: fromJsonColumn<Json>(s.response) ?? {} } : {}),
    };
  }
  return out;
}
