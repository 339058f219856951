import type { Store } from '../store/store.js';
import { workflowsRepo, toWorkflow, type WorkflowFilter, type WorkflowRow } from '../store/workflows-repo.js';
import { stepsRepo, toStep } from '../store/steps-repo.js';
import { eventsRepo, toEvent } from '../store/events-repo.js';
import { servicesRepo } from '../store/services-repo.js';
import { toJsonColumn } from '../store/columns.js';
import { NotFound } from '../domain/errors.js';
import type { JsonObject } from '../domain/json.js';
import { newEventId, WORKFLOW_ID_PATTERN } from '../domain/ids.js';
import { isMoving, type Step } from '../domain/model.js';
import { iso, stepView, workflowView, waitingReason, type StepResponse, type WorkflowResponse } from '../domain/views.js';
import type { CredentialCipher } from './credential-cipher.js';
import { loadServiceState, mergeCredentials, provisionedResult } from './service-state.js';

export interface WorkflowDetail extends WorkflowResponse {
  steps: StepResponse[];
}

/** The store's filter, paged by an opaque cursor (the last id of the previous page) instead of `beforeId`. */
export type ListQuery = Omit<WorkflowFilter, 'beforeId'> & { cursor?: string };

export interface EventView {
  id: string;
  type: string;
  step_name: string | null;
  attempt: number | null;
  actor: string | null;
  reason: string | null;
  data: JsonObject;
  created_at: string;
}

const WORKFLOW_ID = new RegExp(WORKFLOW_ID_PATTERN);

/** Read side of the API. Every tenant read takes the tenant: another tenant's row is simply not found. */
export function createWorkflowQueries(deps: { store: Store; cipher: CredentialCipher; clock?: () => number }) {
  const { store } = deps;
  const now = deps.clock ?? Date.now;

  async function load(id: string, tenantId: string | null): Promise<WorkflowRow> {
    // Anything that is not a workflow id (the UI's paths are not schema-checked) is simply not found,
    // without reaching the database (PostgreSQL refuses a NUL byte in text with an error, not a miss).
    if (!WORKFLOW_ID.test(id)) throw new NotFound(`workflow ${JSON.stringify(id.slice(0, 64))} not found`);
    const row = tenantId === null ? await workflowsRepo.get(store.db, id) : await workflowsRepo.getForTenant(store.db, tenantId, id);
    if (!row) throw new NotFound(`workflow ${id} not found`);
    return row;
  }

  async function detail(id: string, tenantId: string | null): Promise<WorkflowDetail> {
    const row = await load(id, tenantId);
    const steps = (await stepsRepo.listForWorkflow(store.db, id)).map(toStep);
    return { ...workflowView(toWorkflow(row)), steps: steps.map((s) => stepView(s, steps)) };
  }

  async function list(q: ListQuery): Promise<{ items: WorkflowResponse[]; nextCursor: string | null }> {
    const { cursor, ...filter } = q;
    const rows = await workflowsRepo.list(store.db, { ...filter, beforeId: cursor, limit: q.limit + 1 });
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    return { items: page.map((r) => workflowView(toWorkflow(r))), nextCursor: more ? page[page.length - 1].id : null };
  }

  /**
   * Where the tenant's service stands: its provisioned state (derived from completed workflows, never
   * from the latest one), what is in force (parameters, endpoint) and the workflow that matters now —
   * the one under way, else a failed one that left the state failed, else the one whose result is in force.
   */
  async function status(tenantId: string, serviceSlug: string) {
    const service = await servicesRepo.get(store.db, serviceSlug);
    const st = await loadServiceState(store.db, tenantId, serviceSlug);
    const ended = st.lastCompletedId !== null ? await workflowsRepo.get(store.db, st.lastCompletedId) : null;
    if (!service && !ended && !st.active && !st.lastFailure)
      throw new NotFound(`unknown service "${serviceSlug}"; GET /api/v1/catalog/services lists the services`);
    const failedState = st.state === 'provision_failed' || st.state === 'deprovision_failed';
    const focusRow =
      st.rows.active ??
      (failedState && st.lastFailure ? await workflowsRepo.get(store.db, st.lastFailure.id) : null) ??
      st.rows.current ??
      ended;
    const inForce = st.rows.current ? await provisionedResult(store.db, st.rows.current) : null;
    const serving = st.state === 'provisioned' || st.state === 'updating';
    const steps = focusRow ? (await stepsRepo.listForWorkflow(store.db, focusRow.id)).map(toStep) : [];
    const wf = focusRow ? toWorkflow(focusRow) : null;
    const failure = st.lastFailure && !failedState ? st.lastFailure : null;
    return {
      service_slug: serviceSlug,
      tenant_id: tenantId,
      status: st.state === 'not_provisioned' || wf === null ? ('not_provisioned' as const) : wf.status,
      state: st.state,
      workflow_id: wf?.id ?? null,
      kind: wf?.kind ?? null,
      // A failed workflow shows no endpoint; an update under way still serves what is in force.
      endpoint: serving ? (inForce?.endpoint ?? null) : null,
      has_credentials: serving && (inForce?.credentials.length ?? 0) > 0,
      parameters:
        st.state === 'not_provisioned' || st.state === 'provisioning' || st.state === 'provision_failed'
          ? null
          : (inForce?.parameters ?? null),
      update:
        st.active?.kind === 'update' ? { workflow_id: st.active.id, status: st.active.status, parameters: st.active.parameters } : null,
      last_failure: failure
        ? {
            workflow_id: failure.id,
            kind: failure.kind,
            status: failure.status,
            error: failure.error,
            completed_at: iso(failure.completedAt),
          }
        : null,
      steps_total: wf?.stepsTotal ?? 0,
      steps_completed: wf?.stepsCompleted ?? 0,
      waiting_on: waitingOnOf(steps, undefined, wf?.status),
      error: st.state === 'provisioned' || st.state === 'not_provisioned' ? null : (wf?.error ?? null),
      started_at: iso(wf?.startedAt ?? null),
      updated_at: iso(wf?.updatedAt ?? null),
      completed_at: iso(wf?.completedAt ?? null),
    };
  }

  async function events(id: string, tenantId: string | null, after: string | undefined, limit: number) {
    await load(id, tenantId);
    const rows = await eventsRepo.listForWorkflow(store.db, id, after, limit + 1);
    const more = rows.length > limit;
    const page = (more ? rows.slice(0, limit) : rows).map(toEvent);
    const items: EventView[] = page.map((e) => ({
      id: e.id,
      type: e.type,
      step_name: e.stepName,
      attempt: e.attempt,
      actor: e.actor,
      reason: e.reason,
      data: tenantId === null ? e.data : withoutOperatorDetail(e.data),
      created_at: new Date(e.createdAt).toISOString(),
    }));
    return { items, nextCursor: more ? page[page.length - 1].id : null };
  }

  /** Decrypts the credentials of the tenant's current provisioning; every read is an audit event. */
  async function revealCredentials(tenantId: string, serviceSlug: string, actor: string | null) {
    const st = await loadServiceState(store.db, tenantId, serviceSlug);
    // Credentials exist only while the service is provisioned (an update under way still serves them).
    if ((st.state !== 'provisioned' && st.state !== 'updating') || !st.rows.current) {
      throw new NotFound(`tenant ${tenantId} has no provisioned ${serviceSlug} (it is ${st.state.replace('_', ' ')})`);
    }
    const inForce = await provisionedResult(store.db, st.rows.current);
    const credentials = inForce ? mergeCredentials(deps.cipher, inForce.credentials) : null;
    if (!inForce || !credentials) throw new NotFound(`the provisioning of ${serviceSlug} (${st.rows.current.id}) reported no credentials`);
    const current = st.rows.current;
    const t = now();
    await eventsRepo.insertMany(store.db, [
      {
        id: newEventId(),
        workflow_id: current.id,
        tenant_id: tenantId,
        type: 'credentials.revealed',
        step_name: null,
        attempt: null,
        actor,
        reason: null,
        data: toJsonColumn({ keys: Object.keys(credentials) }),
        created_at: t,
      },
    ]);
    return { service_slug: serviceSlug, workflow_id: current.id, credentials, endpoint: inForce.endpoint };
  }

  async function counts(q: Omit<ListQuery, 'limit' | 'cursor' | 'status'>) {
    return workflowsRepo.countByStatus(store.db, q);
  }

  /**
   * Unfinished workflows (and held failures) without progress for `olderThanS`, oldest first, each
   * with why. This only reports: the sweeper is the executor's claim loop, which claims a wait past
   * its deadline like any due step and fails (or retries) it. What lands here is what no loop will
   * move on its own: a failure held for an operator, a long wait, or due work no worker is claiming.
   */
  async function stuck(q: { olderThanS: number; limit: number }): Promise<StuckWorkflow[]> {
    const t = now();
    const rows = await workflowsRepo.listStale(store.db, t - q.olderThanS * 1000, q.limit);
    return Promise.all(
      rows.map(async (row) => {
        const steps = (await stepsRepo.listForWorkflow(store.db, row.id)).map(toStep);
        const wf = toWorkflow(row);
        const waitingOn = waitingOnOf(steps, t, wf.status);
        return {
          ...workflowView(wf),
          last_progress_at: new Date(wf.lastProgressAt).toISOString(),
          stuck_for_s: Math.floor((t - wf.lastProgressAt) / 1000),
          reason: stuckReason(wf.status, wf.error, waitingOn),
          waiting_on: waitingOn,
        };
      }),
    );
  }

  /** A workflow's version for an open page's live update: it changes with every committed transition. */
  async function version(id: string, tenantId: string | null): Promise<string> {
    const row = await load(id, tenantId);
    return workflowVersion(row.updated_at, row.status, row.steps_completed);
  }

  return { detail, list, status, events, revealCredentials, counts, stuck, version };
}

/** Changes with every committed transition (each one moves updated_at); one format for the row and the view. */
export const workflowVersion = (updatedAtMs: number, status: string, stepsCompleted: number) =>
  `${updatedAtMs}-${status}-${stepsCompleted}`;

export interface WaitingOnView {
  step: string;
  status: string;
  reason: string;
  next_action_at: string | null;
}

export interface StuckWorkflow extends WorkflowResponse {
  last_progress_at: string;
  stuck_for_s: number;
  reason: string;
  waiting_on: WaitingOnView[];
}

/** The steps a workflow waits on, each with why and when it acts next; `now` flags what is overdue. */
function waitingOnOf(steps: Step[], now?: number, workflowStatus?: string): WaitingOnView[] {
  // A failure held for an operator (on_failure: hold) waits on a person, and says so.
  const held =
    workflowStatus === 'failed' &&
    !steps.some((s) => s.status === 'compensated' || s.status === 'compensating' || s.state.compensation_failed === true)
      ? steps
          .filter((s) => s.status === 'failed')
          .map((s) => ({
            step: s.name,
            status: s.status,
            next_action_at: null,
            reason: `held for an operator after this step failed (${s.error ?? 'unknown error'}): retry-step, force-complete or cancel`,
          }))
      : [];
  return [
    ...held,
    ...steps
      .filter((s) => isMoving(s.status) || (s.status === 'pending' && s.nextRunAt !== null))
      .map((s) => {
        const at = s.nextRunAt ?? s.deadlineAt;
        let reason = waitingReason(s, steps) ?? s.status;
        if (now !== undefined && s.leaseExpiresAt !== null && s.leaseOwner !== null && s.leaseExpiresAt < now) {
          reason += `; its worker's lease expired at ${iso(s.leaseExpiresAt)} and another worker will take it over`;
        } else if (now !== undefined && s.leaseOwner === null && at !== null && at < now) {
          reason += `; overdue since ${iso(at)}: no worker has claimed it (is a worker running?)`;
        }
        return { step: s.name, status: s.status, reason, next_action_at: iso(at) };
      }),
  ];
}

function stuckReason(status: string, error: string | null, waitingOn: WaitingOnView[]): string {
  if (status === 'failed') return `failed and held: ${error ?? 'unknown error'}; retry a failed step or cancel the workflow`;
  if (waitingOn.length === 0) return `${status} with no step in flight or due; retry a step, force-complete or cancel the workflow`;
  return `${status}, waiting on ${waitingOn.map((w) => `${w.step} (${w.reason})`).join('; ')}`;
}

export type WorkflowQueries = ReturnType<typeof createWorkflowQueries>;

/** `data.detail` holds what a service answered and the request as sent: operators only (issue 11, finding 2). */
function withoutOperatorDetail<T>(data: T): T {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !('detail' in data)) return data;
  const { detail: _operatorOnly, ...rest } = data as Record<string, unknown>;
  return rest as T;
}
