import Type, { type Static } from 'typebox';
import { ReportStatusInputs, WorkflowKinds, WorkflowStatuses } from '../../domain/model.js';
import { StepResponse, WorkflowResponse } from '../../domain/views.js';
import { WORKFLOW_ID_PATTERN } from '../../domain/ids.js';
import { ServiceStates } from '../../domain/service-state.js';
import type { JsonObject as Json } from '../../domain/json.js';
import { Defaulted } from './common.js';

/** Request and response shapes of the Provisioning group; `$id` is the OpenAPI component name. */
const NullableString = Type.Union([Type.String(), Type.Null()]);
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const JsonObject = Type.Unsafe<Json>(Type.Record(Type.String(), Type.Unknown()));

export const ProvisioningCallbackRequest = Type.Object(
  {
    callback_token: Type.String({ minLength: 1, maxLength: 512 }),
    status: Type.Enum(ReportStatusInputs, {
      description: 'completed | failed | in_progress (aliases: success, succeeded, error, running, pending)',
    }),
    endpoint: Type.Optional(Type.Union([Type.String({ format: 'uri', maxLength: 2048 }), Type.Null()])),
    credentials: Type.Optional(Type.Union([JsonObject, Type.Null()])),
    error: Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Null()])),
    metadata: Type.Optional(Type.Union([JsonObject, Type.Null()])),
  },
  { $id: 'ProvisioningCallbackRequest', additionalProperties: true },
);
export type ProvisioningCallbackRequest = Static<typeof ProvisioningCallbackRequest>;

export const WaitingOn = Type.Object(
  {
    step: Type.String(),
    status: Type.String(),
    reason: Type.String(),
    next_action_at: Time,
  },
  { $id: 'WaitingOn' },
);

export const ProvisioningStatusResponse = Type.Object(
  {
    service_slug: Type.String(),
    tenant_id: Type.String(),
    status: Type.Union([Type.Enum(WorkflowStatuses), Type.Literal('not_provisioned')]),
    workflow_id: NullableString,
    state: Type.Enum(ServiceStates, { description: 'the provisioned state of this tenant × service, derived from completed workflows' }),
    kind: Type.Union([Type.Enum(WorkflowKinds), Type.Null()]),
    endpoint: NullableString,
    has_credentials: Type.Boolean(),
    parameters: Type.Union([JsonObject, Type.Null()], {
      description: 'the parameters in force while provisioned (an update replaces them when it completes)',
    }),
    update: Type.Union(
      [
        Type.Object({
          workflow_id: Type.String(),
          status: Type.Enum(WorkflowStatuses),
          parameters: JsonObject,
        }),
        Type.Null(),
      ],
      { description: 'the update under way, with the parameters it will put in force' },
    ),
    last_failure: Type.Union(
      [
        Type.Object({
          workflow_id: Type.String(),
          kind: Type.Enum(WorkflowKinds),
          status: Type.Enum(WorkflowStatuses),
          error: NullableString,
          completed_at: Time,
        }),
        Type.Null(),
      ],
      { description: 'a workflow that failed after the one in force without changing the state (a failed update)' },
    ),
    steps_total: Type.Integer(),
    steps_completed: Type.Integer(),
    waiting_on: Type.Array(Type.Ref('WaitingOn')),
    error: NullableString,
    started_at: Time,
    updated_at: Time,
    completed_at: Time,
  },
  { $id: 'ProvisioningStatusResponse' },
);

export const WorkflowDetailResponse = Type.Object(
  {
    ...WorkflowResponse.properties,
    steps: Type.Array(Type.Ref('StepResponse')),
  },
  { $id: 'WorkflowDetailResponse' },
);

export const StuckWorkflowResponse = Type.Object(
  {
    ...WorkflowResponse.properties,
    last_progress_at: Type.String({ format: 'date-time' }),
    stuck_for_s: Type.Integer({ minimum: 0 }),
    reason: Type.String({ description: 'why nothing moves: the waiting steps and their next action, or "failed and held: …"' }),
    waiting_on: Type.Array(Type.Ref('WaitingOn')),
  },
  { $id: 'StuckWorkflowResponse' },
);

export const StuckQuery = Type.Object(
  {
    older_than_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86400, description: 'default: PROVISIONER_STUCK_AFTER_S' })),
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
);

export const CredentialsResponse = Type.Object(
  {
    service_slug: Type.String(),
    workflow_id: Type.String(),
    endpoint: NullableString,
    credentials: JsonObject,
  },
  { $id: 'CredentialsResponse' },
);

export const WorkflowEventResponse = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    step_name: NullableString,
    attempt: Type.Union([Type.Integer(), Type.Null()]),
    actor: NullableString,
    reason: NullableString,
    data: JsonObject,
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'WorkflowEventResponse' },
);

export const StartWorkflowRequest = Type.Object(
  {
    service_slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    kind: Defaulted(Type.Enum(WorkflowKinds, { default: 'provision' })),
    parameters: Defaulted(Type.Unsafe<Json>(Type.Record(Type.String(), Type.Unknown(), { default: {} }))),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { $id: 'StartWorkflowRequest', additionalProperties: false },
);

export const AdminStartWorkflowRequest = Type.Object(
  {
    tenant_id: Type.String({ minLength: 1, maxLength: 200 }),
    ...StartWorkflowRequest.properties,
  },
  { $id: 'AdminStartWorkflowRequest', additionalProperties: false },
);

export const WorkflowListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(WorkflowStatuses)),
    service_slug: Type.Optional(Type.String({ maxLength: 63 })),
    kind: Type.Optional(Type.Enum(WorkflowKinds)),
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: WORKFLOW_ID_PATTERN })),
  },
  { additionalProperties: false },
);

export const AdminWorkflowListQuery = Type.Object(
  {
    ...WorkflowListQuery.properties,
    tenant_id: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const EventsQuery = Type.Object(
  {
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^evt_[0-9A-Z]{26}$' })),
  },
  { additionalProperties: false },
);

export const WorkflowIdParams = Type.Object({ workflow_id: Type.String({ pattern: WORKFLOW_ID_PATTERN }) });
export const ServiceSlugParams = Type.Object({ service_slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }) });
export const RetryStepParams = Type.Object({
  workflow_id: Type.String({ pattern: WORKFLOW_ID_PATTERN }),
  step_name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }),
});

export const AdminActionRequest = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { $id: 'AdminActionRequest', additionalProperties: false },
);

export const CancelRequest = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    compensate: Defaulted(Type.Boolean({ default: false })),
  },
  { $id: 'CancelRequest', additionalProperties: false },
);

export const ResolveRequest = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 2000, description: 'what was cleaned up by hand, and how (kept in the audit history)' }),
  },
  { $id: 'ResolveRequest', additionalProperties: false },
);

export const provisioningSchemas = [
  WorkflowResponse,
  StepResponse,
  WaitingOn,
  ProvisioningCallbackRequest,
  ProvisioningStatusResponse,
  WorkflowDetailResponse,
  CredentialsResponse,
  WorkflowEventResponse,
  StartWorkflowRequest,
  AdminStartWorkflowRequest,
  AdminActionRequest,
  CancelRequest,
  ResolveRequest,
  StuckWorkflowResponse,
];
