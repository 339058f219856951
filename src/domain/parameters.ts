import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import Type, { type Static } from 'typebox';
import { ValidationFailed, type ValidationIssue } from './errors.js';
import { isJsonObject, type Json, type JsonObject } from './json.js';
import { parseTemplate, TemplateError } from './template.js';

/**
 * A manifest's declared parameters (DESIGN §12): a JSON Schema for the `parameters` object a workflow
 * starts with. Starting validates it and fills its defaults; a bad value is a 422 naming the field.
 */

const PARAMETER_NAME = '^[A-Za-z0-9_-]+$';

/** One parameter: any JSON Schema keyword ajv knows (type, enum, default, description, minimum, pattern…). */
const ParameterSchema = Type.Unsafe<JsonObject>({
  type: 'object',
  description:
    'a JSON Schema for one parameter: type, enum, default, description, minimum, maximum, minLength, maxLength, pattern, items, properties…',
});

export const ParametersSpecSchema = Type.Object(
  {
    type: Type.Optional(Type.Literal('object')),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    properties: Type.Optional(Type.Record(Type.String({ pattern: PARAMETER_NAME }), ParameterSchema)),
    required: Type.Optional(Type.Array(Type.String(), { maxItems: 200 })),
    // Absent or false: a parameter the schema does not name is refused, so a typo cannot pass unnoticed.
    additionalProperties: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    description: 'a JSON Schema (type object) for the parameters a workflow starts with; validated and defaulted at start',
  },
);
export type ParametersSpec = Static<typeof ParametersSpecSchema>;

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: true, strictRequired: false });
// `format: email | uri | date-time | uuid…` in a parameter is checked, not refused as unknown.
addFormats.default(ajv);
const compiled = new Map<string, ValidateFunction>();
// Manifests are few and each compiles once; the bound only guards against a registration storm.
const MAX_COMPILED = 500;

/** The schema ajv runs: `type: object` and `additionalProperties: false` unless the manifest says otherwise. */
function fullSchema(spec: ParametersSpec): JsonObject {
  return { ...spec, type: 'object', additionalProperties: spec.additionalProperties ?? false } as JsonObject;
}

function validatorFor(spec: ParametersSpec): ValidateFunction {
  const key = JSON.stringify(spec);
  const hit = compiled.get(key);
  if (hit) return hit;
  const fn = ajv.compile(fullSchema(spec));
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(key, fn);
  return fn;
}

/** Problems with the schema itself (an unknown keyword, a default that breaks its own schema), located under `parameters`. */
export function parametersSpecIssues(spec: ParametersSpec): ValidationIssue[] {
  try {
    validatorFor(spec);
  } catch (e) {
    return [{ loc: ['parameters'], msg: `parameters is not a valid JSON Schema: ${(e as Error).message}`, type: 'parameters_schema' }];
  }
  const issues: ValidationIssue[] = [];
  for (const name of spec.required ?? []) {
    if (spec.additionalProperties !== true && !(spec.properties && Object.hasOwn(spec.properties, name))) {
      issues.push({
        loc: ['parameters', 'required'],
        msg: `parameters requires "${name}" but does not declare it under properties`,
        type: 'parameters_schema',
      });
    }
  }
  for (const [name, p] of Object.entries(spec.properties ?? {})) {
    if (!Object.hasOwn(p, 'default')) continue;
    const check = ajv.compile({ ...p, default: undefined });
    if (!check(structuredClone(p.default))) {
      issues.push({
        loc: ['parameters', 'properties', name, 'default'],
        msg: `the default of parameter "${name}" does not match its own schema: ${check.errors?.map((e) => e.message).join('; ')}`,
        type: 'parameters_schema',
      });
    }
  }
  return issues;
}

/** The declared names, or null when any name is accepted. */
export function declaredParameters(spec: ParametersSpec | undefined): ReadonlySet<string> | null {
  if (spec === undefined || spec.additionalProperties === true) return null;
  return new Set(Object.keys(spec.properties ?? {}));
}

/** The declared JSON type of a parameter (`object`, `array`, `string`…), when the schema names exactly one. */
export function declaredType(spec: ParametersSpec | undefined, name: string): string | undefined {
  const t = spec?.properties?.[name]?.type;
  return typeof t === 'string' ? t : undefined;
}

function describeValue(v: unknown): string {
  const text = JSON.stringify(v);
  return text !== undefined && text.length <= 60 ? ` (got ${text})` : '';
}

function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      return /^(0|[1-9]\d*)$/.test(seg) ? Number(seg) : seg;
    });
}

function issueOf(e: ErrorObject, values: JsonObject, spec: ParametersSpec, loc: (string | number)[]): ValidationIssue {
  const at = pointerSegments(e.instancePath);
  if (e.keyword === 'required') at.push(String(e.params.missingProperty));
  if (e.keyword === 'additionalProperties') at.push(String(e.params.additionalProperty));
  const name = at.join('.');
  const got = describeValue(
    at.reduce<unknown>((v, k) => (isJsonObject(v as Json) || Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined), values),
  );
  const top = typeof at[0] === 'string' ? spec.properties?.[at[0]] : undefined;
  const about = typeof top?.description === 'string' ? ` (${top.description})` : '';
  const declared = Object.keys(spec.properties ?? {});
  switch (e.keyword) {
    case 'required':
      return { loc: [...loc, ...at], msg: `parameter "${name}" is required${about}`, type: 'missing' };
    case 'additionalProperties':
      return {
        loc: [...loc, ...at],
        msg: `unknown parameter "${name}"; this service takes ${declared.length ? declared.map((d) => `"${d}"`).join(', ') : 'no parameters'}`,
        type: 'extra_forbidden',
      };
    case 'enum':
      return {
        loc: [...loc, ...at],
        msg: `parameter "${name}" must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got}`,
        type: 'enum',
      };
    case 'type':
      return {
        loc: [...loc, ...at],
        msg: `parameter "${name}" must be of type ${String(e.params.type)}${got}`,
        type: `${String(e.params.type)}_type`,
      };
    default:
      return { loc: [...loc, ...at], msg: `parameter "${name || '(parameters)'}" ${e.message ?? 'is not valid'}${got}`, type: e.keyword };
  }
}

/**
 * Validates a workflow's parameters against the manifest's schema and returns them with defaults
 * filled, or throws ValidationFailed located at `loc` (the API passes `["body", "parameters"]`).
 * Without a declared schema the parameters are returned as given.
 */
export function applyParameters(
  spec: ParametersSpec | undefined,
  values: JsonObject,
  loc: (string | number)[] = ['body', 'parameters'],
): JsonObject {
  if (spec === undefined) return values;
  const out = structuredClone(values);
  const validate = validatorFor(spec);
  if (validate(out)) return out;
  throw new ValidationFailed((validate.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => issueOf(e, values, spec, loc)));
}

/** Where a request places text: a value there must be a scalar, never an object or array. */
export const SCALAR_PLACES = ['path', 'query', 'headers'] as const;

export interface ParameterUse {
  parameter: string;
  step: string;
  place: (typeof SCALAR_PLACES)[number];
}

/** Every `{{parameters.x…}}` in a path, query value or header of any request or compensation of the steps. */
export function scalarParameterUses(steps: readonly { name: string; request?: unknown; compensate?: unknown }[]): ParameterUse[] {
  const uses: ParameterUse[] = [];
  for (const step of steps) {
    for (const request of [step.request, step.compensate]) {
      if (!isJsonObject(request as Json)) continue;
      const r = request as Record<string, unknown>;
      for (const place of SCALAR_PLACES) {
        const v = r[place];
        const strings =
          typeof v === 'string'
            ? [v]
            : isJsonObject(v as Json)
              ? Object.values(v as object).filter((s): s is string => typeof s === 'string')
              : [];
        for (const s of strings) {
          let parts: ReturnType<typeof parseTemplate>;
          try {
            parts = parseTemplate(s);
          } catch (e) {
            if (e instanceof TemplateError) continue;
            throw e;
          }
          for (const p of parts) {
            if (p.kind === 'ref' && p.segments[0] === 'parameters' && p.segments.length > 1) {
              uses.push({ parameter: p.segments.slice(1).join('.'), step: step.name, place });
            }
          }
        }
      }
    }
  }
  return uses;
}

/** Values placed in a path, query or header must be scalars: `{"$ne": null}` must never become `[object Object]`. */
export function scalarIssues(
  uses: readonly ParameterUse[],
  values: JsonObject,
  loc: (string | number)[] = ['body', 'parameters'],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const use of uses) {
    const segments = use.parameter.split('.');
    let v: Json | undefined = values;
    for (const s of segments)
      v = v !== null && typeof v === 'object' && !Array.isArray(v) ? v[s] : Array.isArray(v) ? v[Number(s)] : undefined;
    if (v === null || v === undefined || typeof v !== 'object' || seen.has(use.parameter)) continue;
    seen.add(use.parameter);
    const where = use.place === 'headers' ? 'a header' : use.place === 'query' ? 'the query' : 'the path';
    issues.push({
      loc: [...loc, ...segments],
      msg: `parameter "${use.parameter}" goes into ${where} of step "${use.step}", so it must be a string, number or boolean, not ${Array.isArray(v) ? 'an array' : 'an object'}`,
      type: 'scalar_type',
    });
  }
  return issues;
}

/**
 * The parameters a workflow starts with: validated and defaulted against the manifest's schema
 * (deprovisioning takes what it is given: it undoes, and needs no plan), and every value that a
 * request places in a path, query or header checked to be a scalar. Throws ValidationFailed (422).
 */
export function startParameters(
  manifest: { parameters?: ParametersSpec; provision: readonly StepLike[]; deprovision?: readonly StepLike[] } & Record<string, unknown>,
  kind: string,
  values: JsonObject,
): JsonObject {
  const out = kind === 'deprovision' ? values : applyParameters(manifest.parameters, values);
  const steps = Object.values(manifest)
    .filter(Array.isArray)
    .flat()
    .filter((s): s is StepLike => isJsonObject(s as Json) && typeof (s as StepLike).name === 'string');
  const issues = scalarIssues(scalarParameterUses(steps), out);
  if (issues.length > 0) throw new ValidationFailed(issues);
  return out;
}

type StepLike = { name: string; request?: unknown; compensate?: unknown };
