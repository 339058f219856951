import Type, { type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { TLocalizedValidationError } from 'typebox/error';
import { ancestorsOf, findCycle, type DagNode } from './dag.js';
import { ValidationFailed, type ValidationIssue } from './errors.js';
import { MAX_STEPS, ServiceManifestSchema, type ServiceManifest, type StepSection } from './manifest.js';
import { isStepTypeName, stepSpecSchemas, StepTypeNames, type StepTypeName } from './step-specs.js';
import { FixedScopeFields, parseTemplate, TemplateError } from './template.js';
import { declaredParameters, declaredType, parametersSpecIssues, SCALAR_PLACES, type ParametersSpec } from './parameters.js';

type Loc = (string | number)[];
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const issue = (loc: Loc, msg: string, type: string): ValidationIssue => ({ loc, msg, type });
const quoted = (xs: readonly string[]) => xs.map((x) => `"${x}"`).join(', ');

/** How messages name the object being checked: `step "x": ` and `a step of type "http"`. */
interface Subject {
  prefix: string;
  what: string;
}

/**
 * Checks a manifest as authored (parsed YAML or JSON) and returns it with defaults filled in, or
 * throws ValidationFailed listing every problem, each located relative to the manifest.
 */
export function checkManifest(input: unknown): ServiceManifest {
  if (!isObj(input)) throw new ValidationFailed([issue([], 'a service manifest must be an object', 'model_type')]);
  const issues: ValidationIssue[] = [];
  const top: Subject = { prefix: '', what: 'a service manifest' };
  const stepKeys = new Set(['provision', 'deprovision', 'update']);
  const topLevel = Object.fromEntries(Object.entries(input).filter(([k]) => !stepKeys.has(k)));
  const nonJson = jsonIssues(topLevel, [], top);
  issues.push(...(nonJson.length > 0 ? nonJson : schemaIssues(ServiceManifestSchema, input, [], [], top, stepKeys)));
  if (typeof input.base_url === 'string') issues.push(...baseUrlIssues(input.base_url));
  const parameters = checkedParameters(input.parameters, issues);

  const provision = checkSection('provision', input.provision, issues, undefined, parameters);
  const provisionNames = new Set(provision.flatMap((s) => (s.name === undefined ? [] : [s.name])));
  if (input.deprovision !== undefined) checkSection('deprovision', input.deprovision, issues, provisionNames, parameters);
  if (input.update !== undefined) checkSection('update', input.update, issues, provisionNames, parameters);
  if (issues.length > 0) throw new ValidationFailed(issues);

  const normalized = Value.Default(ServiceManifestSchema, structuredClone(input));
  if (!Value.Check(ServiceManifestSchema, normalized)) throw new Error('a checked manifest failed its schema once defaulted');
  for (const step of [...normalized.provision, ...(normalized.deprovision ?? []), ...(normalized.update ?? [])]) {
    if (step.type === 'callback' && step.wait) step.wait.heartbeat_s ??= step.wait.timeout_s;
  }
  return normalized;
}

// ---- schema ----------------------------------------------------------------------------------

function fieldName(field: Loc): string {
  return field.map((f, i) => (typeof f === 'number' ? `[${f}]` : i === 0 ? f : `.${f}`)).join('');
}

/** Recurses through object schemas itself so each leaf gets TypeBox's full error budget (8 per call). */
function schemaIssues(
  schema: TSchema,
  value: unknown,
  loc: Loc,
  field: Loc,
  subject: Subject,
  skip?: ReadonlySet<string>,
): ValidationIssue[] {
  if (!Type.IsObject(schema)) return Value.Errors(schema, value).flatMap((e) => leafIssue(e, schema, value, loc, field, subject));
  const where = field.length === 0 ? subject.what : fieldName(field);
  if (!isObj(value))
    return [issue(loc, `${subject.prefix}${where} must be an object${objectHint(schema)}${describeValue(value)}`, 'dict_type')];
  const known = Object.keys(schema.properties);
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const place = field.length === 0 ? `for ${subject.what}` : `in ${where}`;
    issues.push(
      issue([...loc, key], `${subject.prefix}unknown field "${key}" ${place}; expected one of ${quoted(known)}`, 'extra_forbidden'),
    );
  }
  const required = new Set(schema.required ?? []);
  for (const [key, propSchema] of Object.entries(schema.properties)) {
    if (value[key] === undefined) {
      if (required.has(key)) issues.push(issue([...loc, key], `${subject.prefix}${where} needs "${key}"`, 'missing'));
    } else if (!skip?.has(key)) {
      issues.push(...schemaIssues(propSchema, value[key], [...loc, key], [...field, key], subject));
    }
  }
  return issues;
}

/** `delay: 5` → "must be an object with field seconds (required)": the author learns the shape, not just the type. */
function objectHint(schema: TSchema): string {
  if (!Type.IsObject(schema)) return '';
  const required = new Set(schema.required ?? []);
  const fields = Object.keys(schema.properties).map((k) => (required.has(k) ? `${k} (required)` : k));
  if (fields.length === 0) return '';
  return ` with field${fields.length === 1 ? '' : 's'} ${fields.join(', ')}`;
}

function unknownFieldsOfAnyType(raw: Obj, loc: Loc, label: string): ValidationIssue[] {
  const known = new Set(Object.values(stepSpecSchemas).flatMap((s) => Object.keys(s.properties)));
  return Object.keys(raw)
    .filter((k) => !known.has(k))
    .map((k) =>
      issue([...loc, k], `${label}: unknown field "${k}" for any step type; expected one of ${quoted([...known])}`, 'extra_forbidden'),
    );
}

function instanceSegments(pointer: string, value: unknown): Loc {
  const segments: Loc = [];
  let current = value;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const segment = Array.isArray(current) && /^\d+$/.test(key) ? Number(key) : key;
    segments.push(segment);
    current = Array.isArray(current) ? current[Number(segment)] : isObj(current) ? current[key] : undefined;
  }
  return segments;
}

function describeValue(v: unknown): string {
  const text = JSON.stringify(v);
  return text !== undefined && text.length <= 60 ? ` (got ${text})` : '';
}

function leafIssue(
  e: TLocalizedValidationError,
  schema: TSchema,
  value: unknown,
  loc: Loc,
  field: Loc,
  subject: Subject,
): ValidationIssue[] {
  const inner = instanceSegments(e.instancePath, value);
  const at = [...field, ...inner];
  const got = describeValue(Value.Pointer.Get(value, e.instancePath));
  const description =
    e.instancePath === '' && 'description' in schema && typeof schema.description === 'string' ? schema.description : undefined;
  let text: string;
  let type: string;
  switch (e.keyword) {
    case 'type': {
      const expected = [e.params.type].flat().join(' or ');
      const hint = expected === 'string' && (typeof value === 'number' || typeof value === 'boolean') ? '; quote it in YAML' : '';
      [text, type] = [`must be ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}${got}${hint}`, `${expected}_type`];
      break;
    }
    case 'enum':
      [text, type] = [`must be one of ${e.params.allowedValues.join(', ')}${got}`, 'enum'];
      break;
    case 'const':
      [text, type] = [`must be ${JSON.stringify(e.params.allowedValue)}${got}`, 'literal_error'];
      break;
    case 'pattern':
      [text, type] = [`must be ${description ?? `text matching ${e.params.pattern}`}${got}`, 'string_pattern_mismatch'];
      break;
    case 'minLength':
      [text, type] = [e.params.limit === 1 ? 'must not be empty' : `must have at least ${e.params.limit} characters`, 'string_too_short'];
      break;
    case 'maxLength':
      [text, type] = [`must have at most ${e.params.limit} characters`, 'string_too_long'];
      break;
    case 'minimum':
      [text, type] = [`must be at least ${e.params.limit}${got}`, 'greater_than_equal'];
      break;
    case 'exclusiveMinimum':
      [text, type] = [`must be greater than ${e.params.limit}${got}`, 'greater_than'];
      break;
    case 'maximum':
      [text, type] = [`must be at most ${e.params.limit}${got}`, 'less_than_equal'];
      break;
    case 'exclusiveMaximum':
      [text, type] = [`must be less than ${e.params.limit}${got}`, 'less_than'];
      break;
    case 'minItems':
      [text, type] = [`must have at least ${e.params.limit} items`, 'too_short'];
      break;
    case 'maxItems':
      [text, type] = [`must have at most ${e.params.limit} items`, 'too_long'];
      break;
    case 'boolean':
      return []; // the schema `false` of additionalProperties; the keyword's own error says more
    default:
      [text, type] = [e.message, e.keyword];
  }
  const where = at.length === 0 ? subject.what : fieldName(at);
  return [issue([...loc, ...inner], `${subject.prefix}${where} ${text}`, type)];
}

/** YAML and programmatic callers can hand over values JSON cannot carry; the engine stores JSON. */
function jsonIssues(value: unknown, loc: Loc, subject: Subject, field: Loc = []): ValidationIssue[] {
  const bad = (kind: string) => [
    issue(loc, `${subject.prefix}${fieldName(field) || subject.what} must be JSON, not ${kind}`, 'json_invalid'),
  ];
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return [];
  if (typeof value === 'number') return Number.isFinite(value) ? [] : bad(String(value));
  if (Array.isArray(value)) return value.flatMap((v, i) => jsonIssues(v, [...loc, i], subject, [...field, i]));
  if (isObj(value) && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.entries(value).flatMap(([k, v]) => jsonIssues(v, [...loc, k], subject, [...field, k]));
  }
  return bad(isObj(value) ? `a ${value.constructor.name}` : `a ${typeof value}`);
}

function baseUrlIssues(raw: string): ValidationIssue[] {
  const bad = (why: string) => [
    issue(['base_url'], `base_url ${why}; expected an absolute http(s) URL such as http://127.0.0.1:9100`, 'invalid_base_url'),
  ];
  if (!URL.canParse(raw)) return bad('is not an absolute URL');
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`uses ${url.protocol.slice(0, -1)}, not http or https`);
  if (url.username !== '' || url.password !== '') return bad('must not contain credentials (put them in request headers)');
  if (raw.includes('?')) return bad('must not have a query');
  if (raw.includes('#')) return bad('must not have a fragment');
  return [];
}

// ---- steps -----------------------------------------------------------------------------------

interface StepInfo {
  index: number;
  name: string | undefined;
  label: string;
  type: StepTypeName | undefined;
  depends_on: string[];
  valid: boolean;
  raw: Obj;
}

/** The parameters schema when it is usable for checking templates; its own problems go to `issues`. */
function checkedParameters(value: unknown, issues: ValidationIssue[]): ParametersSpec | undefined {
  if (!isObj(value) || issues.some((i) => i.loc[0] === 'parameters')) return undefined;
  const own = parametersSpecIssues(value as ParametersSpec);
  issues.push(...own);
  return own.length === 0 ? (value as ParametersSpec) : undefined;
}

function checkSection(
  section: StepSection,
  value: unknown,
  issues: ValidationIssue[],
  provisionNames?: ReadonlySet<string>,
  parameters?: ParametersSpec,
): StepInfo[] {
  if (value === undefined) return []; // a missing provision list is reported by the schema
  if (!Array.isArray(value)) {
    issues.push(issue([section], `${section} must be a list of steps`, 'list_type'));
    return [];
  }
  if (value.length === 0) issues.push(issue([section], `${section} needs at least one step`, 'too_short'));
  if (value.length > MAX_STEPS)
    issues.push(issue([section], `${section} has ${value.length} steps; at most ${MAX_STEPS} are allowed`, 'too_long'));
  const steps: StepInfo[] = [];
  value.forEach((raw: unknown, index) => {
    const loc = [section, index];
    if (!isObj(raw)) {
      issues.push(issue(loc, `${section}[${index}] must be a step (an object with name and type)`, 'dict_type'));
      return;
    }
    const name = typeof raw.name === 'string' ? raw.name : undefined;
    const label = name === undefined ? `step ${section}[${index}]` : `step "${name}"`;
    const type = isStepTypeName(raw.type) ? raw.type : undefined;
    const depends_on = Array.isArray(raw.depends_on) ? raw.depends_on.filter((d): d is string => typeof d === 'string') : [];
    const before = issues.length;
    const expected = `expected one of ${StepTypeNames.join(', ')}`;
    if (raw.type === undefined) issues.push(issue([...loc, 'type'], `${label} has no type; ${expected}`, 'missing'));
    else if (type === undefined)
      issues.push(issue([...loc, 'type'], `${label} has unknown step type ${JSON.stringify(raw.type)}; ${expected}`, 'unknown_step_type'));
    const subject = { prefix: `${label}: `, what: `a step of type "${type ?? String(raw.type)}"` };
    const nonJson = jsonIssues(raw, loc, subject);
    issues.push(...nonJson);
    if (type !== undefined && nonJson.length === 0) issues.push(...schemaIssues(stepSpecSchemas[type], raw, loc, [], subject));
    // An unknown type must not hide the step's other typos: its fields are checked against every type's.
    if (type === undefined && raw.type !== undefined) issues.push(...unknownFieldsOfAnyType(raw, loc, label));
    steps.push({ index, name, label, type, depends_on, valid: issues.length === before, raw });
  });
  issues.push(...graphIssues(section, steps));
  const declared = steps.filter((s) => s.raw.endpoint === true);
  for (const extra of declared.slice(1)) {
    issues.push(
      issue(
        [section, extra.index, 'endpoint'],
        `${extra.label} says endpoint: true, but ${declared[0].label} already does; one step's endpoint is the service's endpoint`,
        'duplicate_endpoint',
      ),
    );
  }
  const ancestors = ancestorsOf(steps.flatMap((s) => (s.name === undefined ? [] : [{ name: s.name, depends_on: s.depends_on }])));
  const names = new Set(ancestors.keys());
  for (const step of steps) {
    if (!step.valid || step.name === undefined || step.type === undefined) continue;
    const ctx: RefContext = {
      section,
      step: step.name,
      label: step.label,
      type: step.type,
      field: '',
      ancestors: ancestors.get(step.name) ?? new Set(),
      names,
      provisionNames,
      parameters,
    };
    for (const [field, v] of Object.entries(step.raw)) {
      if (field !== 'name' && field !== 'type' && field !== 'depends_on')
        issues.push(...templateIssues(v, [section, step.index, field], { ...ctx, field }));
    }
  }
  return steps;
}

function graphIssues(section: StepSection, steps: StepInfo[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const first = new Map<string, StepInfo>();
  for (const s of steps) {
    if (s.name === undefined) continue;
    const earlier = first.get(s.name);
    if (earlier)
      issues.push(
        issue(
          [section, s.index, 'name'],
          `${s.label} is defined twice in ${section} (first at ${section}[${earlier.index}])`,
          'duplicate_step',
        ),
      );
    else first.set(s.name, s);
  }
  const edges: DagNode[] = [];
  for (const s of steps) {
    if (s.name === undefined) continue;
    const seen = new Set<string>();
    (Array.isArray(s.raw.depends_on) ? s.raw.depends_on : []).forEach((d: unknown, j) => {
      if (typeof d !== 'string') return;
      const loc = [section, s.index, 'depends_on', j];
      if (d === s.name) issues.push(issue(loc, `${s.label} depends on itself`, 'self_dependency'));
      else if (!first.has(d)) issues.push(issue(loc, `${s.label} depends on unknown step "${d}"`, 'unknown_dependency'));
      else if (seen.has(d)) issues.push(issue(loc, `${s.label} lists "${d}" twice in depends_on`, 'duplicate_dependency'));
      seen.add(d);
    });
    if (first.get(s.name) === s) edges.push({ name: s.name, depends_on: [...seen].filter((d) => d !== s.name) });
  }
  // Report every independent cycle: after each one, drop its closing edge and look again.
  for (let cycle = findCycle(edges); cycle !== null; cycle = findCycle(edges)) {
    const [head] = cycle;
    const closing = cycle[1] ?? head;
    const step = first.get(head);
    const node = edges.find((n) => n.name === head);
    if (step === undefined || node === undefined) break;
    const j = (Array.isArray(step.raw.depends_on) ? step.raw.depends_on : []).indexOf(closing);
    const path = [...cycle, head].join(' → ');
    issues.push(issue([section, step.index, 'depends_on', j], `${step.label} is part of a dependency cycle: ${path}`, 'dependency_cycle'));
    edges[edges.indexOf(node)] = { name: head, depends_on: node.depends_on.filter((d) => d !== closing) };
  }
  return issues;
}

// ---- templates -------------------------------------------------------------------------------

interface RefContext {
  section: StepSection;
  step: string;
  label: string;
  type: StepTypeName;
  field: string;
  ancestors: ReadonlySet<string>;
  names: ReadonlySet<string>;
  provisionNames: ReadonlySet<string> | undefined;
  parameters?: ParametersSpec;
}

function templateIssues(value: unknown, loc: Loc, ctx: RefContext): ValidationIssue[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => templateIssues(v, [...loc, i], ctx));
  if (isObj(value)) return Object.entries(value).flatMap(([k, v]) => templateIssues(v, [...loc, k], ctx));
  if (typeof value !== 'string') return [];
  try {
    return parseTemplate(value).flatMap((p) => {
      if (p.kind === 'text') return [];
      const problem = refProblem(p.segments, ctx) ?? parameterRefProblem(p.segments, loc, ctx);
      return problem ? [issue(loc, `${ctx.label} uses {{${p.path}}}: ${problem.msg}`, problem.type)] : [];
    });
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return [issue(loc, `${ctx.label}: ${e.message}`, 'template_syntax')];
  }
}

function refProblem(segments: string[], ctx: RefContext): { msg: string; type: string } | null {
  const [root, ...rest] = segments;
  const roots = [
    'tenant',
    'workflow',
    'service',
    'parameters',
    'steps',
    'callback',
    ...(ctx.section === 'provision' ? [] : ['provision']),
    ...(ctx.section === 'update' ? ['previous'] : []),
  ];
  if (root === 'parameters') return null;
  if (root === 'previous' && ctx.section === 'update') {
    if (rest[0] === 'parameters') return null;
    return { msg: 'expected previous.parameters…', type: 'template_path' };
  }
  if (root === 'steps') return stepRefProblem(rest, ctx);
  if (root === 'provision' && ctx.section !== 'provision') {
    const [steps, name, output] = rest;
    if (steps !== 'steps' || name === undefined || output !== 'output')
      return { msg: 'expected provision.steps.<name>.output…', type: 'template_path' };
    if (ctx.provisionNames?.has(name)) return null;
    return { msg: `there is no provision step "${name}"`, type: 'template_unknown_step' };
  }
  if (root === 'callback' && !(ctx.type === 'callback' && ctx.field === 'request')) {
    const why =
      ctx.type === 'callback'
        ? `only the step's request has a callback, not its ${ctx.field}`
        : "only a callback step's request has a callback";
    return { msg: why, type: 'callback_outside_callback_step' };
  }
  if (root === 'tenant' || root === 'workflow' || root === 'service' || root === 'callback') {
    const fields: readonly string[] = FixedScopeFields[root];
    if (rest.length === 0 || (rest.length === 1 && fields.includes(rest[0]))) return null;
    return { msg: `${root} has only ${fields.join(', ')}`, type: 'template_unknown_field' };
  }
  const hint =
    root === 'provision'
      ? '"provision" is only available in deprovision steps and update steps; '
      : root === 'previous'
        ? '"previous" is only available in update steps; '
        : '';
  return { msg: `${hint}unknown template root "${root}"; expected one of ${roots.join(', ')}`, type: 'unknown_template_root' };
}

/** Templates may read only declared parameters, and a path, query value or header only a scalar one. */
function parameterRefProblem(segments: string[], loc: Loc, ctx: RefContext): { msg: string; type: string } | null {
  const [root, name] = segments;
  if (root !== 'parameters' || ctx.parameters === undefined) return null;
  if (name === undefined) return { msg: 'name a parameter: parameters.<name>', type: 'template_path' };
  const declared = declaredParameters(ctx.parameters);
  if (declared !== null && !declared.has(name)) {
    const known = [...declared].map((d) => `"${d}"`).join(', ') || 'none';
    return {
      msg: `parameter "${name}" is not declared under parameters.properties (declared: ${known})`,
      type: 'template_undeclared_parameter',
    };
  }
  const place = loc[3];
  const inRequest = (loc[2] === 'request' || loc[2] === 'compensate') && (SCALAR_PLACES as readonly unknown[]).includes(place);
  const t = declaredType(ctx.parameters, name);
  if (inRequest && segments.length === 2 && (t === 'object' || t === 'array')) {
    return {
      msg: `parameter "${name}" is declared as ${t === 'array' ? 'an array' : 'an object'}, but a ${place === 'headers' ? 'header' : place === 'query' ? 'query value' : 'path'} takes a string, number or boolean`,
      type: 'template_not_scalar',
    };
  }
  return null;
}

function stepRefProblem(rest: string[], ctx: RefContext): { msg: string; type: string } | null {
  const [name, part] = rest;
  if (name === undefined || (part !== 'output' && part !== 'response'))
    return {
      msg: 'expected steps.<name>.output… (or steps.<name>.response… for the accepted answer of a callback or poll step)',
      type: 'template_path',
    };
  if (name === ctx.step) {
    if (ctx.field === 'compensate') return null;
    return { msg: `a step can use its own ${part} only in its compensate`, type: 'template_not_ancestor' };
  }
  if (!ctx.names.has(name)) {
    const hint = ctx.provisionNames?.has(name) ? `; use provision.steps.${name}.output… for the provisioning's outputs` : '';
    return { msg: `there is no step "${name}" in ${ctx.section}${hint}`, type: 'template_unknown_step' };
  }
  if (ctx.ancestors.has(name)) return null;
  return {
    msg: `step "${name}" is not among its dependencies; add "${name}" to depends_on (directly or through another step)`,
    type: 'template_not_ancestor',
  };
}
