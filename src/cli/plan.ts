import { ValidationFailed } from '../domain/errors.js';
import { checkManifest } from '../domain/manifest-check.js';
import { startParameters } from '../domain/parameters.js';
import { topologicalOrder } from '../domain/dag.js';
import { parseTemplate, type TemplateScope } from '../domain/template.js';
import type { Json, JsonObject } from '../domain/json.js';
import type { RequestSpec, StepSpec } from '../domain/step-specs.js';
import { renderRequest } from '../engine/step-types/request.js';
import { CALLBACK_PATH } from '../engine/callbacks.js';
import { readManifestFile } from './manifest-files.js';

export interface PlanOptions {
  tenant: string;
  param: string[];
  kind: 'provision' | 'deprovision';
  publicUrl: string;
}

/** `k=v` → {k: v}; v is JSON when it parses (10, true, {"a":1}), else the text. */
export function parseParams(pairs: string[]): JsonObject {
  const out: JsonObject = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--param ${JSON.stringify(pair)}: expected key=value, e.g. --param plan=pro`);
    const raw = pair.slice(at + 1);
    let v: Json;
    try {
      v = JSON.parse(raw) as Json;
    } catch {
      v = raw;
    }
    out[pair.slice(0, at)] = v;
  }
  return out;
}

/** Step outputs are not known before the run: references to them are shown as ‹steps.x.output.y›. */
function placeholderOutputs(value: Json): Json {
  if (typeof value === 'string') {
    return parseTemplate(value)
      .map((p) => {
        if (p.kind === 'text') return p.text;
        return p.segments[0] === 'steps' || p.segments[0] === 'provision' ? `‹${p.path}›` : `{{${p.path}}}`;
      })
      .join('');
  }
  if (Array.isArray(value)) return value.map(placeholderOutputs);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholderOutputs(v)]));
  return value;
}

function describeRequest(spec: RequestSpec, scope: TemplateScope, baseUrl: string, headers: Record<string, string>): string[] {
  const r = renderRequest(placeholderOutputs(spec as unknown as Json) as unknown as RequestSpec, scope);
  const query = r.query && Object.keys(r.query).length ? `?${new URLSearchParams(r.query).toString()}` : '';
  const lines = [`      ${r.method} ${baseUrl.replace(/\/$/, '')}${r.target}${query}`];
  for (const [k, v] of Object.entries({ ...r.headers, ...headers })) lines.push(`      ${k}: ${v}`);
  if (r.body !== undefined && r.method !== 'GET' && r.method !== 'DELETE') {
    lines.push(
      '      content-type: application/json',
      '',
      ...JSON.stringify(r.body, null, 2)
        .split('\n')
        .map((l) => `      ${l}`),
    );
  }
  return lines;
}

/** The steps in the order they can start, each request rendered as it would be sent. Nothing is sent. */
export async function planFile(file: string, o: PlanOptions): Promise<string> {
  const { manifest: raw } = await readManifestFile(file);
  const manifest = checkManifest(raw);
  const parameters = startParameters(manifest, o.kind, parseParams(o.param));
  const steps: StepSpec[] = o.kind === 'provision' ? manifest.provision : (manifest.deprovision ?? []);
  const workflowId = 'wf_PLANNED';
  const lines = [`${o.kind} ${manifest.slug} ${manifest.version} for tenant ${o.tenant}`, `parameters: ${JSON.stringify(parameters)}`];
  if (o.kind === 'deprovision' && !manifest.deprovision) {
    lines.push('', 'no deprovision section: deprovisioning runs the compensations of the completed provision steps, children first:');
    for (const s of [...manifest.provision].reverse())
      if (s.compensate) lines.push(`  - ${s.name}: ${s.compensate.method ?? 'POST'} ${s.compensate.path}`);
    return `${lines.join('\n')}\n`;
  }
  lines.push('');
  const byName = new Map(steps.map((s) => [s.name, s]));
  const order = topologicalOrder(steps.map((s) => ({ name: s.name, depends_on: s.depends_on ?? [] })));
  order.forEach((name, i) => {
    const s = byName.get(name) as StepSpec;
    const after = (s.depends_on ?? []).length ? ` after ${(s.depends_on ?? []).join(', ')}` : ' (starts at once)';
    lines.push(`${i + 1}. ${s.name} [${s.type}]${after}`);
    const scope: TemplateScope = {
      tenant: { id: o.tenant },
      workflow: { id: workflowId, kind: o.kind },
      service: { slug: manifest.slug, version: manifest.version, base_url: manifest.base_url },
      parameters,
      steps: {},
      ...(s.type === 'callback'
        ? { callback: { url: `${o.publicUrl.replace(/\/$/, '')}${CALLBACK_PATH}`, token: '‹callback token, minted at start›' } }
        : {}),
    };
    const headers = {
      'idempotency-key': `${workflowId}:${s.name}:1`,
      'x-provisioner-workflow': workflowId,
      'x-provisioner-tenant': o.tenant,
      'x-provisioner-timestamp': '‹unix seconds›',
      'x-provisioner-signature': 'sha256=‹HMAC of timestamp.body›',
    };
    try {
      if ('request' in s && s.request) lines.push(...describeRequest(s.request, scope, manifest.base_url, headers));
      if (s.type === 'callback')
        lines.push(`      then waits up to ${s.wait?.timeout_s ?? 3600} s for POST ${CALLBACK_PATH} with this step's callback_token`);
      if (s.type === 'poll')
        lines.push(
          `      then polls ${s.poll?.path ?? 'the Location header (or body.poll_url)'} every ${s.poll?.interval_s ?? 5} s, for up to ${s.poll?.timeout_s ?? 1800} s`,
        );
      if (s.type === 'delay') lines.push(`      waits ${s.delay.seconds} s`);
      if (s.compensate)
        lines.push(
          '    compensation (on rollback or deprovision):',
          ...describeRequest(s.compensate, { ...scope, callback: undefined }, manifest.base_url, {
            ...headers,
            'idempotency-key': `${workflowId}:${s.name}:compensate-1`,
          }),
        );
    } catch (e) {
      throw new ValidationFailed([
        { loc: [o.kind, steps.indexOf(s)], msg: `step "${s.name}" cannot be rendered: ${(e as Error).message}`, type: 'template_error' },
      ]);
    }
    lines.push('');
  });
  return `${lines.join('\n')}\n`;
}
