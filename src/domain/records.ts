import type { Json, JsonObject } from './json.js';
import type { Report, Step, StepStatus, Workflow, WorkflowKind, WorkflowStatus } from './model.js';
import type { StepSpec } from './step-specs.js';

/**
 * A workflow and its steps as stored: one row each, columns as the store keeps them on both databases
 * (times epoch ms, JSON as text). The engine's decisions read and change these in memory; the store
 * writes the changed ones back in one batch.
 */
export interface WorkflowRecord {
  id: string;
  tenant_id: string;
  service_slug: string;
  service_version: string;
  kind: string;
  status: string;
  parameters: string;
  endpoint: string | null;
  credentials: string | null;
  error: string | null;
  on_failure: string;
  base_url: string;
  idempotency_key: string | null;
  provision_workflow_id: string | null;
  steps_total: number;
  steps_completed: number;
  created_at: number;
  started_at: number | null;
  updated_at: number;
  completed_at: number | null;
  last_progress_at: number;
  /** The `traceparent` of the request that started the workflow. */
  trace_parent: string | null;
  cancel_requested_at: number | null;
}

export interface StepRecord {
  id: string;
  workflow_id: string;
  tenant_id: string;
  name: string;
  position: number;
  type: string;
  status: string;
  depends_on: string;
  spec: string;
  state: string;
  attempt: number;
  compensation_attempt: number;
  retry_count: number;
  max_attempts: number;
  timeout_ms: number;
  waiting_reason: string | null;
  next_run_at: number | null;
  deadline_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  callback_token_hash: string | null;
  report_hash: string | null;
  early_report: string | null;
  progress: string | null;
  poll_count: number;
  first_poll_at: number | null;
  started_at: number | null;
  completed_at: number | null;
  error: string | null;
  output: string | null;
  endpoint: string | null;
  updated_at: number;
  /** Added by 0007: the answer that accepted a callback or poll step's work (what its compensation may need). */
  response: string | null;
}

export interface EventRecord {
  id: string;
  workflow_id: string;
  tenant_id: string;
  type: string;
  step_name: string | null;
  attempt: number | null;
  actor: string | null;
  reason: string | null;
  data: string;
  created_at: number;
}

export interface OutboxRecord {
  id: string;
  topic: string;
  payload: string;
  created_at: number;
  dispatched_at: number | null;
}

/** The step columns a transition may change; everything else is fixed when the workflow starts. */
export const MUTABLE_STEP_COLUMNS = [
  'status',
  'state',
  'attempt',
  'compensation_attempt',
  'retry_count',
  'max_attempts',
  'waiting_reason',
  'next_run_at',
  'deadline_at',
  'lease_owner',
  'lease_expires_at',
  'callback_token_hash',
  'report_hash',
  'early_report',
  'progress',
  'poll_count',
  'first_poll_at',
  'started_at',
  'completed_at',
  'error',
  'output',
  'endpoint',
  'updated_at',
  'response',
] as const satisfies readonly (keyof StepRecord)[];

export const MUTABLE_WORKFLOW_COLUMNS = [
  'status',
  'endpoint',
  'credentials',
  'error',
  'steps_completed',
  'started_at',
  'updated_at',
  'completed_at',
  'last_progress_at',
  'cancel_requested_at',
] as const satisfies readonly (keyof WorkflowRecord)[];

export const toJsonText = (v: unknown): string => JSON.stringify(v ?? null);
export function fromJsonText<T = Json>(v: string | null): T | null {
  return v === null ? null : (JSON.parse(v) as T);
}

/**
 * Specs and dependency lists are the same text for every workflow of a service version, and decisions
 * read them many times per transition: parsed once per distinct text.
 */
const parsed = new Map<string, unknown>();
function parseCached<T>(text: string): T {
  let v = parsed.get(text);
  if (v === undefined) {
    if (parsed.size >= 5000) parsed.clear();
    v = JSON.parse(text) as unknown;
    parsed.set(text, v);
  }
  return v as T;
}

/** Read-only: shared between every step with the same spec text. */
export const specOf = (s: Pick<StepRecord, 'spec'>): StepSpec => parseCached<StepSpec>(s.spec);
export const depsOf = (s: Pick<StepRecord, 'depends_on'>): readonly string[] => parseCached<string[]>(s.depends_on);
export const stateOf = (s: Pick<StepRecord, 'state'>): JsonObject => fromJsonText<JsonObject>(s.state) ?? {};

export function workflowFromRecord(r: WorkflowRecord): Workflow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    serviceSlug: r.service_slug,
    serviceVersion: r.service_version,
    kind: r.kind as WorkflowKind,
    status: r.status as WorkflowStatus,
    parameters: fromJsonText<JsonObject>(r.parameters) ?? {},
    endpoint: r.endpoint,
    hasCredentials: r.credentials !== null,
    error: r.error,
    onFailure: r.on_failure as Workflow['onFailure'],
    baseUrl: r.base_url,
    provisionWorkflowId: r.provision_workflow_id,
    stepsTotal: r.steps_total,
    stepsCompleted: r.steps_completed,
    createdAt: r.created_at,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    completedAt: r.completed_at,
    lastProgressAt: r.last_progress_at,
  };
}

export function stepFromRecord(r: StepRecord): Step {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    tenantId: r.tenant_id,
    name: r.name,
    position: r.position,
    type: r.type as Step['type'],
    status: r.status as StepStatus,
    dependsOn: [...depsOf(r)],
    spec: specOf(r),
    state: stateOf(r),
    attempt: r.attempt,
    compensationAttempt: r.compensation_attempt,
    retryCount: r.retry_count,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    waitingReason: r.waiting_reason,
    nextRunAt: r.next_run_at,
    deadlineAt: r.deadline_at,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    hasCallbackToken: r.callback_token_hash !== null,
    reportHash: r.report_hash,
    earlyReport: fromJsonText<Report>(r.early_report),
    progress: fromJsonText(r.progress),
    pollCount: r.poll_count,
    firstPollAt: r.first_poll_at,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    error: r.error,
    output: fromJsonText(r.output),
    endpoint: r.endpoint,
    updatedAt: r.updated_at,
  };
}
