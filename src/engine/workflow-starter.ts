import type { Store } from '../store/store.js';
import { servicesRepo } from '../store/services-repo.js';
import { workflowsRepo, type WorkflowRow } from '../store/workflows-repo.js';
import { stepsRepo, type StepRow } from '../store/steps-repo.js';
import { eventsRepo } from '../store/events-repo.js';
import { outboxRepo } from '../store/outbox-repo.js';
import { toJsonColumn } from '../store/columns.js';
import { Conflict, NotFound } from '../domain/errors.js';
import type { JsonObject } from '../domain/json.js';
import type { WorkflowKind } from '../domain/model.js';
import type { ServiceManifest } from '../domain/manifest.js';
import { STEP_DEFAULTS, type StepSpec } from '../domain/step-specs.js';
import { startParameters } from '../domain/parameters.js';
import { newEventId, newWorkflowId, ulid } from '../domain/ids.js';
import { workflowView } from '../domain/views.js';
import { toWorkflow } from '../store/workflows-repo.js';
import { hashToken, type CredentialCipher } from './credential-cipher.js';
import { effectiveRetry } from './retry.js';
import { WorkflowUnit } from './unit.js';
import { activeSpanContext } from '../tracing/context.js';
import { formatTraceparent } from '../tracing/ids.js';

export interface StartRequest {
  tenantId: string;
  serviceSlug: string;
  kind: WorkflowKind;
  parameters: JsonObject;
  idempotencyKey: string | null;
  actor: string | null;
  reason?: string | null;
}

export interface StartResult { workflowId: string; created: boolean }

export function createWorkflowStarter(deps: { store: Store; cipher: CredentialCipher; clock?: () => number }) {
  const { store, cipher } = deps;
  const now = deps.clock ?? Date.now;

  async function start(req: StartRequest): Promise<StartResult> {
    if (req.idempotencyKey) {
      const existing = await workflowsRepo.findByIdempotencyKey(store.db, req.tenantId, req.idempotencyKey);
      if (existing) return sameRequestOrConflict(existing, req);
    }
    const service = await servicesRepo.get(store.db, req.serviceSlug);
    if (!service) throw new NotFound(`unknown service "${req.serviceSlug}"; GET /api/v1/catalog/services lists the services`);
    const manifest = JSON.parse(service.manifest) as ServiceManifest;
    // Declared parameters are checked and defaulted before anything is written or run (422 naming the field).
    req = { ...req, parameters: startParameters(manifest, req.kind, req.parameters) };

    let specs: StepSpec[];
    let provisionId: string | null = null;
    if (req.kind === 'provision') {
      specs = manifest.provision;
    } else {
      const prov = await workflowsRepo.latestCompletedProvision(store.db, req.tenantId, req.serviceSlug);
      const latest = await workflowsRepo.latestForService(store.db, req.tenantId, req.serviceSlug);
      if (!prov || (latest && latest.kind === 'deprovision' && latest.status === 'completed' && latest.id > prov.id)) {
        throw new Conflict(`tenant ${req.tenantId} has no provisioned ${req.serviceSlug} to deprovision`);
      }
      provisionId = prov.id;
      specs = manifest.deprovision ?? compensationsAsSteps(await stepsRepo.listForWorkflow(store.db, prov.id));
    }

    const t = now();
    const id = newWorkflowId();
    // The API request's span when tracing is on: the workflow's step spans become its children.
    const traceContext = activeSpanContext();
    const wf: WorkflowRow = {
      id, tenant_id: req.tenantId, service_slug: service.slug, service_version: service.version, kind: req.kind,
      status: specs.length === 0 ? 'completed' : 'running', parameters: toJsonColumn(req.parameters), endpoint: null,
      credentials: null, error: null, on_failure: manifest.on_failure ?? 'rollback', base_url: service.base_url,
      idempotency_key: req.idempotencyKey, provision_workflow_id: provisionId, steps_total: specs.length,
      steps_completed: 0, created_at: t, started_at: t, updated_at: t, completed_at: specs.length === 0 ? t : null,
      last_progress_at: t, trace_parent: traceContext ? formatTraceparent(traceContext) : null,
      cancel_requested_at: null,
    };
    const steps = specs.map((spec, position) => stepRow(wf, spec, position, t, cipher));
    try {
      await store.transaction(async (tx) => {
        await workflowsRepo.insert(tx, wf);
        await stepsRepo.insertMany(tx, steps);
        await eventsRepo.insertMany(tx, [{
          id: newEventId(), workflow_id: id, tenant_id: wf.tenant_id, type: 'workflow.created', step_name: null, attempt: null,
          actor: req.actor, reason: req.reason ?? null, data: toJsonColumn({ kind: req.kind, service_version: service.version }), created_at: t,
        }]);
        const topics = ['provisioning.workflow.started', ...(specs.length === 0 ? ['provisioning.workflow.completed'] : [])];
        await outboxRepo.insertMany(tx, topics.map((topic) => {
          const eventId = newEventId();
          return {
            id: eventId, topic, created_at: t, dispatched_at: null,
            payload: JSON.stringify({
              event_id: eventId, event_type: topic, event_version: '1.0', occurred_at: new Date(t).toISOString(), source: 'provisioner',
              idempotency_key: `${topic}:${id}`, data: { workflow: workflowView(toWorkflow(wf)) },
            }),
          };
        }));
      });
    } catch (e) {
      if (!store.dialect.isUniqueViolation(e)) throw e;
      if (req.idempotencyKey) {
        const existing = await workflowsRepo.findByIdempotencyKey(store.db, req.tenantId, req.idempotencyKey);
        if (existing) return sameRequestOrConflict(existing, req);
      }
      const active = await workflowsRepo.findActive(store.db, req.tenantId, req.serviceSlug);
      throw new Conflict(`workflow ${active?.id ?? '(unknown)'} for ${req.serviceSlug} is still ${active?.status ?? 'active'} for tenant ${req.tenantId}; wait for it to end or cancel it`);
    }
    // Steps are due and the started event is in the outbox: wake both loops now rather than at their next poll.
    store.dialect.wakeups().notify('steps');
    store.dialect.wakeups().notify('webhooks');
    return { workflowId: id, created: true };
  }

  return { start };
}

function sameRequestOrConflict(existing: WorkflowRow, req: StartRequest): StartResult {
  if (existing.service_slug !== req.serviceSlug || existing.kind !== req.kind) {
    throw new Conflict(`Idempotency-Key was already used for workflow ${existing.id} (${existing.kind} ${existing.service_slug}); use a new key for a different request`);
  }
  return { workflowId: existing.id, created: false };
}

function stepRow(wf: WorkflowRow, spec: StepSpec, position: number, t: number, cipher: CredentialCipher): StepRow {
  const id = `stp_${ulid()}`;
  const deps = spec.depends_on ?? [];
  return {
    id, workflow_id: wf.id, tenant_id: wf.tenant_id, name: spec.name, position, type: spec.type, status: 'pending',
    depends_on: toJsonColumn(deps), spec: toJsonColumn(spec), state: '{}', attempt: 0, compensation_attempt: 0, retry_count: 0,
    max_attempts: effectiveRetry(spec.retry).max_attempts, timeout_ms: Math.round((spec.timeout_s ?? STEP_DEFAULTS.timeout_s) * 1000),
    waiting_reason: null, next_run_at: deps.length === 0 ? t : null, deadline_at: null, lease_owner: null, lease_expires_at: null,
    // Minted before any request is sent, so even the earliest callback finds its step.
    callback_token_hash: spec.type === 'callback' ? hashToken(cipher.callbackToken(id)) : null,
    report_hash: null, early_report: null, progress: null, poll_count: 0, first_poll_at: null, started_at: null,
    completed_at: null, error: null, output: null, endpoint: null, updated_at: t,
  };
}

/**
 * The default deprovision: each completed provision step's compensation, children before parents.
 * A compensation waits for the compensations of its nearest compensable descendants.
 */
export function compensationsAsSteps(provision: StepRow[]): StepSpec[] {
  const compensable = new Map<string, StepSpec>();
  for (const s of provision) {
    const spec = WorkflowUnit.spec(s);
    if (s.status === 'completed' && spec.compensate) compensable.set(s.name, spec);
  }
  const children = (name: string) => provision.filter((c) => WorkflowUnit.deps(c).includes(name)).map((c) => c.name);
  const nearestCompensable = (name: string, seen = new Set<string>()): string[] => children(name).flatMap((c) => {
    if (seen.has(c)) return [];
    seen.add(c);
    return compensable.has(c) ? [c] : nearestCompensable(c, seen);
  });
  return [...compensable.entries()].map(([name, spec]) => ({
    name,
    type: 'http' as const,
    request: spec.compensate as NonNullable<StepSpec['compensate']>,
    depends_on: [...new Set(nearestCompensable(name))],
    ...(spec.retry ? { retry: spec.retry } : {}),
    ...(spec.timeout_s ? { timeout_s: spec.timeout_s } : {}),
  }));
}
