import type { Transaction } from 'kysely';
import type { Store } from '../store/store.js';
import type { Db } from '../store/db-types.js';
import { servicesRepo } from '../store/services-repo.js';
import { workflowsRepo, type WorkflowRow } from '../store/workflows-repo.js';
import { stepsRepo, type StepRow } from '../store/steps-repo.js';
import { eventsRepo } from '../store/events-repo.js';
import { outboxRepo } from '../store/outbox-repo.js';
import { toJsonColumn } from '../store/columns.js';
import { ActiveWorkflowConflict, Conflict, NotFound, ValidationFailed } from '../domain/errors.js';
import { startRefusal } from '../domain/service-state.js';
import type { Json, JsonObject } from '../domain/json.js';
import { startFingerprint } from '../domain/idempotency.js';
import type { WorkflowKind } from '../domain/model.js';
import type { ServiceManifest } from '../domain/manifest.js';
import { STEP_DEFAULTS, type StepSpec } from '../domain/step-specs.js';
import { startParameters } from '../domain/parameters.js';
import { newEventId, newWorkflowId, ulid } from '../domain/ids.js';
import { hashToken, type CredentialCipher } from './credential-cipher.js';
import { stepTypeOf } from './step-types/index.js';
import { effectiveRetry } from '../domain/retry-policy.js';
import { depsOf, specOf } from '../domain/records.js';
import { outboxMessage } from '../domain/workflow-draft.js';
import type { OutboundTopic } from '../domain/webhook-topics.js';
import { loadServiceState, provisionedResult } from './service-state.js';
import { serviceStateRepo } from '../store/service-state-repo.js';
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

export interface StartResult {
  workflowId: string;
  created: boolean;
}

export interface StartOptions {
  /** Runs inside the transaction that inserts the workflow (the intake stores its event there); a throw undoes both. */
  within?: (tx: Transaction<Db>, workflowId: string) => Promise<void>;
}

export function createWorkflowStarter(deps: { store: Store; cipher: CredentialCipher; clock?: () => number }) {
  const { store, cipher } = deps;
  const now = deps.clock ?? Date.now;

  async function start(req: StartRequest, opts: StartOptions = {}): Promise<StartResult> {
    if (req.idempotencyKey) {
      const existing = await workflowsRepo.findByIdempotencyKey(store.db, req.tenantId, req.idempotencyKey);
      if (existing) return sameRequestOrConflict(existing, req);
    }
    const service = await servicesRepo.get(store.db, req.serviceSlug);
    if (!service) throw new NotFound(`unknown service "${req.serviceSlug}"; GET /api/v1/catalog/services lists the services`);
    const manifest = JSON.parse(service.manifest) as ServiceManifest;
    // Declared parameters are checked and defaulted before anything is written or run (422 naming the field).
    req = { ...req, parameters: startParameters(manifest, req.kind, req.parameters) };

    if (req.kind === 'update' && !manifest.update) {
      throw new Conflict(
        `service ${service.slug} (version ${service.version}) declares no update steps; add an "update:" section to its manifest, or deprovision and provision again`,
      );
    }
    // The provisioned state, not the latest workflow, decides what may start (issue 12 item 5).
    const state = await loadServiceState(store.db, req.tenantId, req.serviceSlug);
    const refusal = startRefusal(req.kind, state, req);
    if (refusal) {
      // A concurrent repeat of this request may have committed its workflow since the key was looked up:
      // that workflow is the answer, not a conflict with it.
      if (req.idempotencyKey) {
        const existing = await workflowsRepo.findByIdempotencyKey(store.db, req.tenantId, req.idempotencyKey);
        if (existing) return sameRequestOrConflict(existing, req);
      }
      throw state.active ? new ActiveWorkflowConflict(refusal, state.active.id) : new Conflict(refusal);
    }

    let specs: StepSpec[];
    let provisionId: string | null = null;
    let parameters = req.parameters;
    if (req.kind === 'provision') {
      specs = manifest.provision;
    } else {
      const inForce = state.rows.current ? await provisionedResult(store.db, state.rows.current) : null;
      if (!inForce) throw new Conflict(`tenant ${req.tenantId} has no provisioned ${req.serviceSlug} to ${req.kind}`);
      provisionId = inForce.provisionId;
      if (req.kind === 'update') {
        // Keys an update leaves out keep their values: the update's parameters become the current ones.
        parameters = { ...inForce.parameters, ...req.parameters };
        specs = manifest.update ?? [];
      } else {
        specs = manifest.deprovision ?? compensationsAsSteps(await stepsRepo.listForWorkflow(store.db, provisionId));
      }
    }

    const t = now();
    const id = newWorkflowId();
    // The API request's span when tracing is on: the workflow's step spans become its children.
    const traceContext = activeSpanContext();
    const wf: WorkflowRow = {
      id,
      tenant_id: req.tenantId,
      service_slug: service.slug,
      service_version: service.version,
      kind: req.kind,
      status: specs.length === 0 ? 'completed' : 'running',
      parameters: toJsonColumn(parameters),
      endpoint: null,
      credentials: null,
      error: null,
      on_failure: manifest.on_failure ?? 'rollback',
      base_url: service.base_url,
      idempotency_key: req.idempotencyKey,
      provision_workflow_id: provisionId,
      steps_total: specs.length,
      steps_completed: 0,
      created_at: t,
      started_at: t,
      updated_at: t,
      completed_at: specs.length === 0 ? t : null,
      last_progress_at: t,
      trace_parent: traceContext ? formatTraceparent(traceContext) : null,
      cancel_requested_at: null,
    };
    const steps = specs.map((spec, position) => stepRow(wf, spec, position, t, cipher));
    let hookError: unknown = null;
    try {
      await store.transaction(async (tx) => {
        await workflowsRepo.insert(tx, wf);
        // Our row now holds the one-active slot; a workflow that completed since the state was read changes what may start.
        if ((await serviceStateRepo.lastCompletedId(tx, req.tenantId, req.serviceSlug)) !== state.lastCompletedId) {
          hookError = new Conflict(
            `the state of ${req.serviceSlug} for tenant ${req.tenantId} changed while this request was handled; send it again`,
          );
          throw hookError;
        }
        if (opts.within) {
          try {
            await opts.within(tx, id);
          } catch (e) {
            hookError = e;
            throw e;
          }
        }
        await stepsRepo.insertMany(tx, steps);
        await eventsRepo.insertMany(tx, [
          {
            id: newEventId(),
            workflow_id: id,
            tenant_id: wf.tenant_id,
            type: 'workflow.created',
            step_name: null,
            attempt: null,
            actor: req.actor,
            reason: req.reason ?? null,
            data: toJsonColumn({ kind: req.kind, service_version: service.version }),
            created_at: t,
          },
        ]);
        const topics: OutboundTopic[] = [
          'provisioning.workflow.started',
          ...(specs.length === 0 ? ['provisioning.workflow.completed' as const] : []),
        ];
        await outboxRepo.insertMany(
          tx,
          topics.map((topic) => outboxMessage(topic, t, wf)),
        );
      });
    } catch (e) {
      if (hookError !== null || !store.dialect.isUniqueViolation(e)) throw e;
      if (req.idempotencyKey) {
        const existing = await workflowsRepo.findByIdempotencyKey(store.db, req.tenantId, req.idempotencyKey);
        if (existing) return sameRequestOrConflict(existing, req);
      }
      const active = await workflowsRepo.findActive(store.db, req.tenantId, req.serviceSlug);
      throw new ActiveWorkflowConflict(
        `workflow ${active?.id ?? '(unknown)'} for ${req.serviceSlug} is still ${active?.status ?? 'active'} for tenant ${req.tenantId}; wait for it to end or cancel it`,
        active?.id ?? null,
      );
    }
    // Steps are due and the started event is in the outbox: wake both loops now rather than at their next poll.
    store.dialect.wakeups().notify('steps', 'webhooks');
    return { workflowId: id, created: true };
  }

  return { start };
}

function sameRequestOrConflict(existing: WorkflowRow, req: StartRequest): StartResult {
  const before = startFingerprint(existing.kind, existing.service_slug, JSON.parse(existing.parameters) as Json);
  if (before !== startFingerprint(req.kind, req.serviceSlug, req.parameters)) {
    const differs = existing.service_slug !== req.serviceSlug ? 'service_slug' : existing.kind !== req.kind ? 'kind' : 'parameters';
    throw new ValidationFailed([
      {
        loc: ['header', 'idempotency-key'],
        type: 'value_error.idempotency_conflict',
        msg: `this Idempotency-Key was already used for workflow ${existing.id}, and this request's ${differs} differs from that one's; use a new key for a different request, or repeat the first request exactly`,
      },
    ]);
  }
  return { workflowId: existing.id, created: false };
}

function stepRow(wf: WorkflowRow, spec: StepSpec, position: number, t: number, cipher: CredentialCipher): StepRow {
  const id = `stp_${ulid()}`;
  const deps = spec.depends_on ?? [];
  return {
    id,
    workflow_id: wf.id,
    tenant_id: wf.tenant_id,
    name: spec.name,
    position,
    type: spec.type,
    status: 'pending',
    depends_on: toJsonColumn(deps),
    spec: toJsonColumn(spec),
    state: '{}',
    attempt: 0,
    compensation_attempt: 0,
    retry_count: 0,
    max_attempts: effectiveRetry(spec.retry).max_attempts,
    timeout_ms: Math.round((spec.timeout_s ?? STEP_DEFAULTS.timeout_s) * 1000),
    waiting_reason: null,
    next_run_at: deps.length === 0 ? t : null,
    deadline_at: null,
    lease_owner: null,
    lease_expires_at: null,
    // Types that take callbacks get a token, minted before any request is sent so even the earliest callback finds its step.
    callback_token_hash: stepTypeOf(spec.type).onReport ? hashToken(cipher.callbackToken(id)) : null,
    report_hash: null,
    early_report: null,
    progress: null,
    poll_count: 0,
    first_poll_at: null,
    started_at: null,
    completed_at: null,
    error: null,
    output: null,
    endpoint: null,
    updated_at: t,
    response: null,
  };
}

/**
 * The default deprovision: each completed provision step's compensation, children before parents.
 * A compensation waits for the compensations of its nearest compensable descendants.
 */
export function compensationsAsSteps(provision: StepRow[]): StepSpec[] {
  const compensable = new Map<string, StepSpec>();
  for (const s of provision) {
    const spec = specOf(s);
    if (s.status === 'completed' && spec.compensate) compensable.set(s.name, spec);
  }
  const children = (name: string) => provision.filter((c) => depsOf(c).includes(name)).map((c) => c.name);
  const nearestCompensable = (name: string, seen = new Set<string>()): string[] =>
    children(name).flatMap((c) => {
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
