import type { Json, JsonObject } from '../../domain/json.js';
import { isJsonObject } from '../../domain/json.js';
import { isWebUrl } from '../../domain/network-policy.js';
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
    label: spec.path.split('?')[0],
  };
}

export type Answer = { ok: true; res: OutboundResponse } | { ok: false; outcome: StepOutcome };

/**
 * Sends and sorts the answer: 2xx goes on; retryable statuses and network errors retry; the rest fail.
 *
 * What a tenant can read (`error`) names the request by its manifest path template and says what happens
 * next; the service's answer and the rendered request (which may hold callback tokens, tenant parameters or
 * an echo of them) go to `detail`, which only operators see (issue 11, finding 2).
 */
export async function sendRequest(http: Outbound, req: OutboundRequest, opts: { alsoOk?: readonly number[] } = {}): Promise<Answer> {
  const what = `${req.method} ${req.label ?? pathOf(req.target)}`;
  let res: OutboundResponse;
  try {
    res = await http.send(req);
  } catch (e) {
    if (e instanceof OutboundError) {
      const error = e.tail !== undefined ? `${what}${e.tail}` : e.message;
      return {
        ok: false,
        outcome: withDetail(
          e.retryable ? { kind: 'retry', error } : { kind: 'failed', error },
          e.message === error ? undefined : e.message,
        ),
      };
    }
    throw e;
  }
  if ((res.status >= 200 && res.status < 300) || opts.alsoOk?.includes(res.status)) return { ok: true, res };
  const detail = `${rendered(req)}\n→ ${res.status}${snippet(res)}`;
  if (isRetryableStatus(res.status)) {
    return {
      ok: false,
      outcome: withDetail(
        { kind: 'retry', error: `${what} answered ${res.status} (temporary)`, notBefore: res.retryAt ?? undefined },
        detail,
      ),
    };
  }
  return {
    ok: false,
    outcome: withDetail(
      { kind: 'failed', error: `${what} answered ${res.status} (not retried: fix the cause, then an operator can retry the step)` },
      detail,
    ),
  };
}

/** Operator-only text on a retry/failed outcome (stored in the event's data as `detail`, never shown to tenants). */
export type OutcomeWithDetail = StepOutcome & { detail?: string };

function withDetail(outcome: Extract<StepOutcome, { kind: 'retry' | 'failed' }>, detail: string | undefined): OutcomeWithDetail {
  return detail === undefined ? outcome : { ...outcome, detail };
}

/** The request as sent, for operators: method, rendered target with query, and body (cut short). */
function rendered(req: OutboundRequest): string {
  const query = req.query && Object.keys(req.query).length > 0 ? `?${new URLSearchParams(req.query).toString()}` : '';
  const body = req.body === undefined ? '' : ` ${cut(JSON.stringify(req.body), 2000)}`;
  return `${req.method} ${req.target}${query}${body}`;
}

function cut(text: string, max: number) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** endpoint/credentials at the top level of a JSON body (DESIGN §6). */
export function reportedResult(body: Json | undefined): { endpoint?: string | null; credentials?: JsonObject | null } {
  if (!isJsonObject(body)) return {};
  return {
    // Only a web address is an endpoint (it is shown to tenants and linked in the UI).
    endpoint: typeof body.endpoint === 'string' && isWebUrl(body.endpoint) ? body.endpoint : undefined,
    credentials: isJsonObject(body.credentials) ? body.credentials : undefined,
  };
}

export function bodyAsOutput(res: OutboundResponse): Json {
  if (res.json !== undefined) return res.json;
  return res.text === '' ? null : { body: res.text.slice(0, 4096) };
}

function pathOf(target: string) {
  try {
    return new URL(target, 'http://x').pathname;
  } catch {
    return target;
  }
}

function snippet(res: OutboundResponse): string {
  const text = res.text.trim();
  if (!text) return '';
  return `: ${cut(text, 2000)}`;
}
