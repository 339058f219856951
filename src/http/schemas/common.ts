import Type, { type Static, type TSchema, type TUnsafe } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorCodes } from '../../domain/errors.js';

/**
 * Shared response shapes (DESIGN §4). Every schema here has `$id` = its OpenAPI component name, is
 * added once with `registerSchemas`, and is pointed at with `ref(schema)`: the JSON carries only
 * `{"$ref": "<$id>"}`, while the TypeScript type is the schema's own, so handlers stay type-checked.
 */

/**
 * An optional field with a `default`: left out of `required` in the document, but always present in the
 * handler's type, since the app's Ajv fills in defaults (`useDefaults`) before any handler runs.
 */
export function Defaulted<T extends TSchema>(schema: T): T {
  return Type.Optional(schema) as unknown as T;
}

/** `{"$ref": schema.$id}`, typed as the referenced schema. The schema must be registered. */
export function ref<T extends TSchema>(schema: T, options: { description?: string } = {}): TUnsafe<Static<T>> {
  return Type.Unsafe<Static<T>>(Type.Ref(idOf(schema), options));
}

function idOf(schema: TSchema): string {
  const id = (schema as { $id?: unknown }).$id;
  if (typeof id !== 'string' || id === '') {
    throw new Error(`schema ${JSON.stringify(schema).slice(0, 80)} has no $id; give it one (its OpenAPI component name)`);
  }
  return id;
}

export const ValidationError = Type.Object(
  {
    loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
    msg: Type.String(),
    type: Type.String(),
  },
  { $id: 'ValidationError', title: 'ValidationError' },
);
export type ValidationError = Static<typeof ValidationError>;

export const HTTPValidationError = Type.Object(
  {
    detail: Type.Array(ref(ValidationError)),
  },
  { $id: 'HTTPValidationError', title: 'HTTPValidationError' },
);
export type HTTPValidationError = Static<typeof HTTPValidationError>;

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum(ErrorCodes.filter((c) => c !== 'validation_error')),
      message: Type.String(),
      request_id: Type.String(),
    }),
  },
  { $id: 'ErrorResponse', title: 'ErrorResponse' },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

/** `extraMeta` passed to `ok()` is kept: the serializer must not drop what a handler adds. */
export const Meta = Type.Object(
  {
    request_id: Type.String(),
  },
  { $id: 'Meta', title: 'Meta', additionalProperties: true },
);
export type Meta = Static<typeof Meta>;

export const ListMeta = Type.Object(
  {
    request_id: Type.String(),
    count: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'ListMeta', title: 'ListMeta' },
);
export type ListMeta = Static<typeof ListMeta>;

function buildEnvelope<T extends TSchema, M extends TSchema>(id: string, data: T, meta: M) {
  return Type.Object({ data, meta: ref(meta) }, { $id: id, title: id });
}

const envelopes = new Map<string, TSchema>();

/** Same `$id` → same object, so a route file may call `envelope(X)` as often as it likes. */
function memo<T extends TSchema>(id: string, build: () => T): T {
  const hit = envelopes.get(id);
  if (hit) return hit as T;
  const built = build();
  envelopes.set(id, built);
  return built;
}

/** `{data: X, meta: Meta}` named `ApiResponse_<X>_`. X must be registered (its `$id` is referenced). */
export function envelope<T extends TSchema>(schema: T) {
  const id = `ApiResponse_${idOf(schema)}_`;
  return memo(id, () => buildEnvelope(id, ref(schema), Meta));
}

/** `{data: X[], meta: ListMeta}` named `ApiResponse_list_<X>__`. */
export function listEnvelope<T extends TSchema>(schema: T) {
  const id = `ApiResponse_list_${idOf(schema)}__`;
  return memo(id, () => buildEnvelope(id, Type.Array(ref(schema)), ListMeta));
}

/** `{data: {…}, meta}` for answers whose data is a free-form object. */
export const ApiResponse_dict_ = Type.Object(
  {
    data: Type.Record(Type.String(), Type.Unknown()),
    meta: ref(Meta),
  },
  { $id: 'ApiResponse_dict_', title: 'ApiResponse_dict_' },
);

/** One documented error answer, for statuses `errorResponses` leaves out: `410: errorResponse('The wait expired')`. */
export const errorResponse = (description: string) => ref(ErrorResponse, { description });
const err = errorResponse;

/** Error answers to spread into a route's `response`: `{200: envelope(X), ...errorResponses}`. */
export const errorResponses = {
  401: err('Missing or invalid bearer token'),
  403: err('The token lacks the role or permission this endpoint needs'),
  404: err('Not found (or not visible to this tenant)'),
  409: err('Conflicts with the current state'),
  422: ref(HTTPValidationError, { description: 'Validation Error' }),
  500: err('Internal error'),
  503: err('A dependency is unavailable; retry later'),
} as const;

/** For routes without a bearer token (the callback): the same answers minus 401/403. */
export const publicErrorResponses = (({ 401: _u, 403: _f, ...rest }) => rest)(errorResponses);

/** The schemas every app registers; route files add their own through `AppDeps.schemas`. */
export const commonSchemas: readonly TSchema[] = [ValidationError, HTTPValidationError, ErrorResponse, Meta, ListMeta];

/**
 * Adds each schema once. Listing the same schema twice is harmless; two different schemas under one
 * `$id` is a naming bug that would make the docs lie, so it stops the start.
 */
export function registerSchemas(app: FastifyInstance, schemas: readonly TSchema[]): void {
  const present = app.getSchemas();
  for (const schema of schemas) {
    const id = idOf(schema);
    const existing = present[id];
    if (existing === undefined) {
      app.addSchema(schema);
      present[id] = schema;
    } else if (JSON.stringify(existing) !== JSON.stringify(schema)) {
      throw new Error(`two different schemas have $id ${JSON.stringify(id)}; rename one (the $id is its OpenAPI component name)`);
    }
  }
}
