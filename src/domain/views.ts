import Type, { type Static } from 'typebox';
import type { Json } from './json.js';
import { isSatisfied, StepStatuses, WorkflowStatuses, WorkflowKinds, type Step, type Workflow } from './model.js';
import { StepTypeNames } from './step-specs.js';

/**
 * The public shapes of workflows and steps (DESIGN §5), shared by the API and outbound events.
 * `$id` is the OpenAPI component name. Credentials never appear here.
 */
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const AnyJson = Type.Unsafe<Json>({});

export const WorkflowResponse = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    service_slug: Type.String(),
    service_version: Type.String(),
    kind: Type.Enum(WorkflowKinds),
    status: Type.Enum(WorkflowStatuses),
    parameters: Type.Record(Type.String(), AnyJson),
    endpoint: NullableString,
    has_credentials: Type.Boolean(),
    error: NullableString,
    steps_total: Type.Integer(),
    steps_completed: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Time,
    updated_at: Type.String({ format: 'date-time' }),
    completed_at: Time,
  },
  { $id: 'WorkflowResponse' },
);
export type WorkflowResponse = Static<typeof WorkflowResponse>;

export const StepResponse = Type.Object(
  {
    name: Type.String(),
    type: Type.Enum(StepTypeNames),
    status: Type.Enum(StepStatuses),
    depends_on: Type.Array(Type.String()),
    retry_count: Type.Integer(),
    attempt: Type.Integer(),
    max_attempts: Type.Integer(),
    waiting_reason: NullableString,
    next_run_at: Time,
    deadline_at: Time,
    started_at: Time,
    completed_at: Time,
    error: NullableString,
    output: Type.Union([AnyJson, Type.Null()]),
    endpoint: NullableString,
    progress: Type.Union([AnyJson, Type.Null()]),
    poll_count: Type.Integer(),
  },
  { $id: 'StepResponse' },
);
export type StepResponse = Static<typeof StepResponse>;

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function workflowView(w: Workflow): WorkflowResponse {
  return {
    id: w.id,
    tenant_id: w.tenantId,
    service_slug: w.serviceSlug,
    service_version: w.serviceVersion,
    kind: w.kind,
    status: w.status,
    parameters: w.parameters,
    endpoint: w.endpoint,
    has_credentials: w.hasCredentials,
    error: w.error,
    steps_total: w.stepsTotal,
    steps_completed: w.stepsCompleted,
    created_at: new Date(w.createdAt).toISOString(),
    started_at: iso(w.startedAt),
    updated_at: new Date(w.updatedAt).toISOString(),
    completed_at: iso(w.completedAt),
  };
}

export function stepView(s: Step, all: readonly Step[]): StepResponse {
  return {
    name: s.name,
    type: s.type,
    status: s.status,
    depends_on: s.dependsOn,
    retry_count: s.retryCount,
    attempt: s.attempt,
    max_attempts: s.maxAttempts,
    waiting_reason: waitingReason(s, all),
    next_run_at: iso(s.nextRunAt),
    deadline_at: iso(s.deadlineAt),
    started_at: iso(s.startedAt),
    completed_at: iso(s.completedAt),
    error: s.error,
    output: s.output,
    endpoint: s.endpoint,
    progress: s.progress,
    poll_count: s.pollCount,
  };
}

/** Nothing is silently stuck: every unfinished step says what it waits for. */
export function waitingReason(s: Step, all: readonly Step[]): string | null {
  if (s.waitingReason !== null) return s.waitingReason;
  if (s.status === 'pending' && s.nextRunAt === null) {
    const blocking = s.dependsOn.filter((d) => {
      const dep = all.find((x) => x.name === d);
      return dep && !isSatisfied(dep.status);
    });
    if (blocking.length > 0) return `waiting for ${blocking.join(', ')} to complete`;
    return 'not started: the workflow stopped before this step became ready';
  }
  if (s.status === 'pending') return 'queued: waiting for a free worker';
  if (s.status === 'running') return 'request in flight';
  if (s.status === 'compensating') return 'compensation queued or in flight';
  return null;
}
