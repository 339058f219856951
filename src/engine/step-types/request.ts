import type { Json, JsonObject } from '../../domain/json.js';
import { isJsonObject } from '../../domain/json.js';
import type { RequestSpec } from '../../domain/step-specs.js';
import { renderRequestPath, renderTemplate, type TemplateScope } from '../../domain/template.js';
import { OutboundError, type Outbound, type OutboundRequest, type OutboundResponse } from '../outbound.js';
import { isRetryableStatus } from '../retry.js';
import type { StepOutcome } from './step-type.js';

/** Renders a manifest request against the scope; TemplateError propagates (a final failure). */
export function renderRequest(spec: RequestSpec, scope: TemplateScope): OutboundRequest {
  return {
    method: spec.method ?? 'POST',
    target: renderRequestPath(spec.path, scope),
    query: spec.query ? (renderTemplate(spec.query, scope) as Record<string, string>) : undefined,
    headers: spec.headers ? (renderTemplate(spec.headers, scope) as Record<string, string>) : undefined,
    body: spec.body === undefined ? undefined : renderTemplate(spec.body, scope),
  };
}

export type Answer = { ok: true; res: OutboundResponse } | { ok: false; outcome: StepOutcome };

/** Sends and sorts the answer: 2xx goes on; retryable statuses and network errors retry; the rest fail. */
export async function sendRequest(http: Outbound, req: OutboundRequest, opts: { alsoOk?: readonly number[] } = {}): Promise<Answer> {
  let res: OutboundResponse;
  try {
    res = await http.send(req);
  } catch (e) {
    if (e instanceof OutboundError) {
      return { ok: false, outcome: e.retryable ? { kind: 'retry', error: e.message } : { kind: 'failed', error: e.message } };
    }
    throw e;
  }
  if ((res.status >= 200 && res.status < 300) || opts.alsoOk?.includes(res.status)) return { ok: true, res };
  const error = `${req.method} ${pathOf(req.target)} answered ${res.status}${snippet(res)}`;
  if (isRetryableStatus(res.status)) return { ok: false, outcome: { kind: 'retry', error, notBefore: res.retryAt ?? undefined } };
  return { ok: false, outcome: { kind: 'failed', error } };
}

/** endpoint/credentials at the top level of a JSON body (DESIGN §6). */
export function reportedResult(body: Json | undefined): { endpoint?: string | null; credentials?: JsonObject | null } {
  if (!isJsonObject(body)) return {};
  return {
    endpoint: typeof body.endpoint === 'string' ? body.endpoint : undefined,
    credentials: isJsonObject(body.credentials) ? body.credentials : undefined,
  };
}

export function bodyAsOutput(res: OutboundResponse): Json {
  if (res.json !== undefined) return res.json;
  return res.text === '' ? null : { body: res.text.slice(0, 4096) };
}

function pathOf(target: string) {
  try { return new URL(target, 'http://x').pathname; } catch { return target; }
}

function snippet(res: OutboundResponse): string {
  const text = res.text.trim();
  if (!text) return '';
  return `: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}
