import type { HeaderBag, RequestInfo } from './types.js';

/** One header, case-insensitively, from a fetch `Headers` or a Node `IncomingHttpHeaders`-like object. */
export function header(headers: HeaderBag, name: string): string | null {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === lower) return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
  }
  return null;
}

/** Who sent a request and for which step: read from Idempotency-Key and X-Provisioner-Workflow/Tenant. */
export function requestInfo(headers: HeaderBag): RequestInfo {
  const idempotencyKey = header(headers, 'idempotency-key');
  const workflowId = header(headers, 'x-provisioner-workflow');
  let step: string | null = null;
  let attempt: string | null = null;
  if (idempotencyKey && workflowId && idempotencyKey.startsWith(`${workflowId}:`)) {
    const rest = idempotencyKey.slice(workflowId.length + 1);
    const at = rest.lastIndexOf(':');
    if (at > 0) [step, attempt] = [rest.slice(0, at), rest.slice(at + 1)];
  }
  return { workflowId, tenantId: header(headers, 'x-provisioner-tenant'), idempotencyKey, step, attempt };
}
