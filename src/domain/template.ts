import type { Json, JsonObject } from './json.js';

/** `{{ path }}` templates in step requests (DESIGN §6). */

/** Per step: its final `output`, and for callback and poll steps the `response` that accepted the work. */
export type StepOutputs = Record<string, { output: Json; response?: Json }>;

export type TemplateScope = {
  tenant: { id: string };
  workflow: { id: string; kind: string };
  service: { slug: string; version: string; base_url: string };
  parameters: JsonObject;
  steps: StepOutputs;
  /** Deprovision and update workflows only: the outputs of the provisioning they undo or change. */
  provision?: { steps: StepOutputs };
  /** Update workflows only: the parameters in force before the update. */
  previous?: { parameters: JsonObject };
  /** Callback steps only, and only while their request is built. */
  callback?: { url: string; token: string };
};

/** The fields of the fixed-shape scope roots, so a manifest check can catch `{{tenant.name}}` early. */
export const FixedScopeFields = {
  tenant: ['id'],
  workflow: ['id', 'kind'],
  service: ['slug', 'version', 'base_url'],
  callback: ['url', 'token'],
} as const satisfies { [K in 'tenant' | 'workflow' | 'service' | 'callback']: readonly (keyof NonNullable<TemplateScope[K]>)[] };

export class TemplateError extends Error {
  /** The path inside the braces, as written (trimmed). */
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'TemplateError';
    this.path = path;
  }
}

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'ref'; path: string; segments: string[] };

const TEMPLATE = /\{\{([^{}]*)\}\}/g;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Splits `a.b.0` into segments; throws TemplateError when a segment is empty or has odd characters. */
export function parseTemplatePath(path: string): string[] {
  const segments = path.split('.');
  if (path === '' || !segments.every((s) => SEGMENT.test(s))) {
    throw new TemplateError(path, `template {{${path}}}: expected a dotted path such as steps.<name>.output.id`);
  }
  return segments;
}

/** Splits a string into literal text and references. Throws TemplateError on a malformed template. */
export function parseTemplate(s: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of s.matchAll(TEMPLATE)) {
    const at = m.index ?? 0;
    if (at > last) parts.push({ kind: 'text', text: s.slice(last, at) });
    const path = m[1].trim();
    parts.push({ kind: 'ref', path, segments: parseTemplatePath(path) });
    last = at + m[0].length;
  }
  if (last < s.length) parts.push({ kind: 'text', text: s.slice(last) });
  // No escape syntax exists, so a lone `{{` is far more likely a typo than literal text.
  const unclosed = parts.find((p) => p.kind === 'text' && p.text.includes('{{'));
  if (unclosed) throw new TemplateError('', `template in "${s}": "{{" is not closed by "}}"`);
  return parts;
}

function walkStrings(value: Json, visit: (s: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const v of value) walkStrings(v, visit);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) walkStrings(v, visit);
}

/** Every path referenced in the strings of a JSON value (keys are not templated). */
export function templateRefs(value: Json): string[] {
  const refs: string[] = [];
  walkStrings(value, (s) => {
    for (const p of parseTemplate(s)) if (p.kind === 'ref') refs.push(p.path);
  });
  return refs;
}

function describeContainer(segments: string[]): string {
  return segments.length === 0 ? 'the template scope' : segments.join('.');
}

function scopeRoot(scope: TemplateScope): JsonObject {
  const { tenant, workflow, service, parameters, steps, provision, previous, callback } = scope;
  return {
    tenant,
    workflow,
    service,
    parameters,
    steps,
    ...(provision === undefined ? {} : { provision }),
    ...(previous === undefined ? {} : { previous }),
    ...(callback === undefined ? {} : { callback }),
  };
}

function resolve(scope: TemplateScope, path: string, segments: string[]): Json {
  let current: Json | undefined = scopeRoot(scope);
  for (const [i, segment] of segments.entries()) {
    const container = describeContainer(segments.slice(0, i));
    let next: Json | undefined;
    if (Array.isArray(current)) {
      next = /^\d+$/.test(segment) ? current[Number(segment)] : undefined;
    } else if (current !== null && typeof current === 'object') {
      next = Object.hasOwn(current, segment) ? current[segment] : undefined;
    } else {
      throw new TemplateError(
        path,
        `template {{${path}}}: ${container} is ${current === null ? 'null' : `a ${typeof current}`}, so it has no "${segment}"`,
      );
    }
    if (next === undefined) throw new TemplateError(path, `template {{${path}}}: "${segment}" is missing in ${container}`);
    current = next;
  }
  return current;
}

function interpolate(v: Json): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function renderString(s: string, scope: TemplateScope): Json {
  const parts = parseTemplate(s);
  const [only] = parts;
  if (parts.length === 1 && only.kind === 'ref') return resolve(scope, only.path, only.segments);
  return parts.map((p) => (p.kind === 'text' ? p.text : interpolate(resolve(scope, p.path, p.segments)))).join('');
}

/**
 * Renders every string in a JSON value. A string that is exactly one `{{…}}` takes the referenced
 * value with its JSON type; otherwise references are interpolated (objects as JSON, null as '').
 */
export function renderTemplate(value: Json, scope: TemplateScope): Json {
  if (typeof value === 'string') return renderString(value, scope);
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, scope));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderTemplate(v, scope)]));
  }
  return value;
}

// WHATWG URL parsing treats these as `.`/`..` even when percent-encoded, so encoding cannot defuse them.
const DOT_SEGMENT = /^(\.|%2e){1,2}$/i;

/**
 * Renders a request path, URL-encoding each interpolated value so that it stays inside one path
 * segment: it cannot add `/`, `?` or `#`, climb with `..`, or leave an empty segment behind.
 */
export function renderRequestPath(template: string, scope: TemplateScope): string {
  let out = '';
  const interpolated: { from: number; to: number; path: string }[] = [];
  for (const p of parseTemplate(template)) {
    if (p.kind === 'text') {
      out += p.text;
      continue;
    }
    const v = resolve(scope, p.path, p.segments);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new TemplateError(
        p.path,
        `template {{${p.path}}} in path "${template}": expected a string or number, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object'}`,
      );
    }
    const text = String(v);
    if (text === '') throw new TemplateError(p.path, `template {{${p.path}}} in path "${template}": the value is empty`);
    interpolated.push({ from: out.length, to: out.length + encodeURIComponent(text).length, path: p.path });
    out += encodeURIComponent(text);
  }
  let at = 0;
  for (const segment of out.split('/')) {
    const end = at + segment.length;
    const culprit = interpolated.find((r) => r.from < end && r.to > at);
    if (culprit && DOT_SEGMENT.test(segment)) {
      throw new TemplateError(
        culprit.path,
        `template {{${culprit.path}}} in path "${template}": the value would make a "${segment}" path segment`,
      );
    }
    at = end + 1;
  }
  return out;
}
