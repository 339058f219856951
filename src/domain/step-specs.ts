import Type, { type Static, type TSchema } from 'typebox';
import type { Json } from './json.js';

/** Step fields as authored in a service manifest (DESIGN §6). Pure data: the engine gives them behaviour. */

export const StepTypeNames = ['http', 'callback', 'poll', 'delay'] as const;
export type StepTypeName = (typeof StepTypeNames)[number];

export const HttpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HttpMethods)[number];

const MAX_WAIT_S = 30 * 24 * 3600;

/** Defaults that checkManifest fills in; the schemas below carry them as `default`. */
export const STEP_DEFAULTS = {
  method: 'POST',
  timeout_s: 30,
  wait_timeout_s: 3600,
  poll_interval_s: 5,
  poll_timeout_s: 1800,
} as const;

/** Kept apart from the step: the engine merges it with `retry`, so a manifest shows only what it changes. */
export const DEFAULT_RETRY = { max_attempts: 3, initial_s: 1, backoff: 2, max_s: 60 } as const;

// `{}` accepts any value; checkManifest separately refuses what JSON cannot carry (undefined, NaN, Date…).
const JsonValue = Type.Unsafe<Json>({ description: 'any JSON value' });
const StringMap = Type.Record(Type.String(), Type.String());

export const RequestSpecSchema = Type.Object(
  {
    method: Type.Optional(Type.Enum(HttpMethods, { default: STEP_DEFAULTS.method })),
    // A second leading '/' would make the path protocol-relative and change the host when resolved.
    path: Type.String({ pattern: '^/(?!/)', description: 'a path relative to base_url, starting with a single "/"' }),
    query: Type.Optional(StringMap),
    headers: Type.Optional(StringMap),
    body: Type.Optional(JsonValue),
  },
  { additionalProperties: false },
);
export type RequestSpec = Static<typeof RequestSpecSchema>;

/** A compensation is a request, plus which error answers mean "already undone" (default 404 and 410; [] for none). */
export const CompensateSpecSchema = Type.Object(
  {
    ...RequestSpecSchema.properties,
    undone_statuses: Type.Optional(
      Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), {
        maxItems: 20,
        uniqueItems: true,
        description: 'answers that count as already undone (default [404, 410]; [] treats every 4xx/5xx as a failure)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CompensateSpec = Static<typeof CompensateSpecSchema>;

export const RetrySpecSchema = Type.Object(
  {
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    initial_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
    backoff: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
    max_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
    on_reported_failure: Type.Optional(Type.Boolean()),
    on_wait_timeout: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type RetrySpec = Static<typeof RetrySpecSchema>;

export const STEP_NAME_PATTERN = '^[a-z][a-z0-9_]{0,62}$';

const StepName = Type.String({
  pattern: STEP_NAME_PATTERN,
  description: 'lowercase letters, digits and "_", starting with a letter, at most 63 characters',
});

const commonFields = {
  depends_on: Type.Optional(Type.Array(Type.String(), { maxItems: 100, default: [] })),
  retry: Type.Optional(RetrySpecSchema),
  timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 600, default: STEP_DEFAULTS.timeout_s })),
  compensate: Type.Optional(CompensateSpecSchema),
  endpoint: Type.Optional(
    Type.Boolean({
      description:
        "this step's reported endpoint is the service's endpoint (at most one step per section); without it, the last reporting step in DAG order",
    }),
  ),
};

export const HttpStepSpecSchema = Type.Object(
  {
    name: StepName,
    type: Type.Literal('http'),
    ...commonFields,
    request: RequestSpecSchema,
  },
  { additionalProperties: false },
);
export type HttpStepSpec = Static<typeof HttpStepSpecSchema>;

export const WaitSpecSchema = Type.Object(
  {
    timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WAIT_S, default: STEP_DEFAULTS.wait_timeout_s })),
    // Defaults to timeout_s, which a schema default cannot express; checkManifest fills it.
    heartbeat_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WAIT_S })),
  },
  { additionalProperties: false, default: {} },
);
export type WaitSpec = Static<typeof WaitSpecSchema>;

export const CallbackStepSpecSchema = Type.Object(
  {
    name: StepName,
    type: Type.Literal('callback'),
    ...commonFields,
    // Without a request the step only waits, e.g. for a callback that an earlier step's request arranged.
    request: Type.Optional(RequestSpecSchema),
    wait: Type.Optional(WaitSpecSchema),
  },
  { additionalProperties: false },
);
export type CallbackStepSpec = Static<typeof CallbackStepSpecSchema>;

export const PollSpecSchema = Type.Object(
  {
    interval_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400, default: STEP_DEFAULTS.poll_interval_s })),
    timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WAIT_S, default: STEP_DEFAULTS.poll_timeout_s })),
    path: Type.Optional(
      Type.String({
        pattern: '^/(?!/)',
        description: 'a path relative to base_url, starting with a single "/" (instead of Location or body.poll_url)',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);
export type PollSpec = Static<typeof PollSpecSchema>;

export const PollStepSpecSchema = Type.Object(
  {
    name: StepName,
    type: Type.Literal('poll'),
    ...commonFields,
    request: RequestSpecSchema,
    poll: Type.Optional(PollSpecSchema),
  },
  { additionalProperties: false },
);
export type PollStepSpec = Static<typeof PollStepSpecSchema>;

export const DelaySpecSchema = Type.Object(
  {
    seconds: Type.Number({ minimum: 0, maximum: MAX_WAIT_S }),
  },
  { additionalProperties: false },
);

export const DelayStepSpecSchema = Type.Object(
  {
    name: StepName,
    type: Type.Literal('delay'),
    ...commonFields,
    delay: DelaySpecSchema,
  },
  { additionalProperties: false },
);
export type DelayStepSpec = Static<typeof DelayStepSpecSchema>;

export const stepSpecSchemas = {
  http: HttpStepSpecSchema,
  callback: CallbackStepSpecSchema,
  poll: PollStepSpecSchema,
  delay: DelayStepSpecSchema,
} as const satisfies { [K in StepTypeName]: TSchema };

export const StepSpecSchema = Type.Union([HttpStepSpecSchema, CallbackStepSpecSchema, PollStepSpecSchema, DelayStepSpecSchema]);
export type StepSpec = HttpStepSpec | CallbackStepSpec | PollStepSpec | DelayStepSpec;
export type SpecOf<K extends StepTypeName> = Extract<StepSpec, { type: K }>;

export function isStepTypeName(v: unknown): v is StepTypeName {
  return typeof v === 'string' && (StepTypeNames as readonly string[]).includes(v);
}
