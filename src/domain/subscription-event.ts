import Type, { type Static } from 'typebox';
import type { Json, JsonObject } from './json.js';
import type { ValidationIssue } from './errors.js';
import type { WorkflowKind } from './model.js';

/**
 * ScaiControl's outbound webhook, as it is sent (issue 14, DESIGN §12): the envelope, how its `data`
 * maps onto a tenant, a service and parameters, and which workflow each event asks for. Pure.
 */
export const SubscriptionEventEnvelope = Type.Object(
  {
    event_id: Type.String({ minLength: 1, maxLength: 200 }),
    event_type: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'e.g. subscription.activated, subscription.changed, subscription.cancelled',
    }),
    event_version: Type.Optional(Type.Union([Type.String({ maxLength: 50 }), Type.Number(), Type.Null()])),
    occurred_at: Type.String({ format: 'date-time' }),
    source: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    idempotency_key: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'carries subscription_id, tenant_id, service_slug and parameters or plan_code (paths configurable: PROVISIONER_INTAKE_FIELD_MAP)',
    }),
  },
  { $id: 'SubscriptionEvent', additionalProperties: true },
);
export type SubscriptionEventEnvelope = Static<typeof SubscriptionEventEnvelope>;

export const SubscriptionEventStatuses = ['applied', 'queued', 'ignored', 'rejected'] as const;
export type SubscriptionEventStatus = (typeof SubscriptionEventStatuses)[number];

/** Where each field is read from (dotted paths from the envelope's root). Any other key names a parameter. */
export const DEFAULT_FIELD_MAP: Readonly<Record<string, string>> = {
  subscription_id: 'data.subscription_id',
  tenant_id: 'data.tenant_id',
  service_slug: 'data.service_slug',
  change_kind: 'data.change_kind',
  parameters: 'data.parameters',
  plan: 'data.plan_code',
};
const FIXED_FIELDS = new Set(['subscription_id', 'tenant_id', 'service_slug', 'change_kind', 'parameters']);
export const FIELD_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export interface MappedEvent {
  subscriptionId: string | null;
  tenantId: string | null;
  serviceSlug: string | null;
  changeKind: string | null;
  parameters: JsonObject;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function at(root: unknown, path: string): unknown {
  let cur = root;
  for (const seg of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

/** Reads the fields through the operator's map (over the defaults); the issues name the path that was read. */
export function mapEvent(
  envelope: SubscriptionEventEnvelope,
  overrides: Readonly<Record<string, string>> = {},
): { event: MappedEvent; issues: ValidationIssue[] } {
  const map = { ...DEFAULT_FIELD_MAP, ...overrides };
  const issues: ValidationIssue[] = [];
  const loc = (path: string) => ['body', ...path.split('.')];
  const text = (field: string): string | null => {
    const v = at(envelope, map[field]);
    if (v === undefined || v === null) return null;
    if (typeof v === 'string' && v.length > 0 && v.length <= 200) return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    issues.push({
      loc: loc(map[field]),
      msg: `${map[field]} (read as ${field}) must be a non-empty string of at most 200 characters`,
      type: 'string_type',
    });
    return null;
  };
  const event: MappedEvent = {
    subscriptionId: text('subscription_id'),
    tenantId: text('tenant_id'),
    serviceSlug: text('service_slug'),
    changeKind: text('change_kind'),
    parameters: {},
  };
  const params = at(envelope, map.parameters);
  if (isObj(params)) event.parameters = { ...(params as JsonObject) };
  else if (params !== undefined && params !== null)
    issues.push({ loc: loc(map.parameters), msg: `${map.parameters} (read as parameters) must be an object`, type: 'dict_type' });
  for (const [name, path] of Object.entries(map)) {
    if (FIXED_FIELDS.has(name)) continue;
    const v = at(envelope, path);
    if (v !== undefined && v !== null) event.parameters[name] = v as Json;
  }
  return { event, issues };
}

/** The issues that stop an event asking for a workflow from being applied: who and what it is about. */
export function targetIssues(e: MappedEvent, overrides: Readonly<Record<string, string>> = {}): ValidationIssue[] {
  const map = { ...DEFAULT_FIELD_MAP, ...overrides };
  const missing = (field: string) => ({
    loc: ['body', ...map[field].split('.')],
    type: 'missing',
    msg: `${map[field]} (read as ${field}) is missing; send it, or map the field with PROVISIONER_INTAKE_FIELD_MAP (e.g. ${field}=data.some.path)`,
  });
  return [...(e.tenantId === null ? [missing('tenant_id')] : []), ...(e.serviceSlug === null ? [missing('service_slug')] : [])];
}

export const UPDATE_CHANGE_KINDS = ['plan_change', 'quantity_change'];

/** The workflow an event asks for, or why it asks for none (recorded as ignored). */
export function actionOf(eventType: string, changeKind: string | null): { action: WorkflowKind } | { ignored: string } {
  switch (eventType) {
    case 'subscription.activated':
      return { action: 'provision' };
    case 'subscription.cancelled':
      return { action: 'deprovision' };
    case 'subscription.changed':
      if (changeKind !== null && UPDATE_CHANGE_KINDS.includes(changeKind)) return { action: 'update' };
      return {
        ignored: `subscription.changed with change_kind ${changeKind === null ? '(none)' : JSON.stringify(changeKind)} needs no workflow; only ${UPDATE_CHANGE_KINDS.join(' and ')} run an update`,
      };
    default:
      return {
        ignored: `event type ${JSON.stringify(eventType)} needs no workflow; only subscription.activated, subscription.changed and subscription.cancelled do`,
      };
  }
}

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** What the intake answers (202 first, 200 for a repeat). */
export const SubscriptionEventAnswer = Type.Object(
  {
    event_id: Type.String(),
    status: Type.Enum(['applied', 'queued', 'ignored'] as const),
    workflow_id: NullableString,
  },
  { $id: 'SubscriptionEventAnswer' },
);
export type SubscriptionEventAnswer = Static<typeof SubscriptionEventAnswer>;

/** An event as operators list it: what arrived and what became of it. */
export const SubscriptionEventResponse = Type.Object(
  {
    id: Type.String(),
    event_id: Type.String(),
    event_type: Type.String(),
    event_version: NullableString,
    occurred_at: Type.String({ format: 'date-time' }),
    source: NullableString,
    idempotency_key: NullableString,
    subscription_id: NullableString,
    tenant_id: NullableString,
    service_slug: NullableString,
    action: Type.Union([Type.Enum(['provision', 'update', 'deprovision'] as const), Type.Null()], {
      description: 'the workflow kind the event asks for',
    }),
    parameters: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    status: Type.Enum(SubscriptionEventStatuses),
    reason: Type.Union([Type.String(), Type.Null()], { description: 'why it was queued, ignored or rejected' }),
    workflow_id: NullableString,
    blocked_by: Type.Union([Type.String(), Type.Null()], { description: 'while queued: the workflow it waits for' }),
    received_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'SubscriptionEventResponse' },
);
export type SubscriptionEventResponse = Static<typeof SubscriptionEventResponse>;
