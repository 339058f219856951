import { createHash } from 'node:crypto';
import { isJsonObject, type Json } from './json.js';
import { normalizeReportStatus, type Report } from './model.js';

/** Reads a poll result or callback body into the shared report shape; null when it is not one. */
export function parseReport(body: Json | undefined): Report | null {
  if (!isJsonObject(body) || typeof body.status !== 'string') return null;
  const status = normalizeReportStatus(body.status);
  if (!status) return null;
  return {
    status,
    endpoint: typeof body.endpoint === 'string' ? body.endpoint : null,
    credentials: isJsonObject(body.credentials) ? body.credentials : null,
    error: typeof body.error === 'string' ? body.error : null,
    metadata: isJsonObject(body.metadata) ? body.metadata : null,
  };
}

/** Identity of a final report, so an identical repeat is recognised as a duplicate. */
export function reportHash(r: Report): string {
  const canonical = JSON.stringify([
    r.status,
    r.endpoint ?? null,
    sortKeys(r.credentials ?? null),
    r.error ?? null,
    sortKeys(r.metadata ?? null),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isJsonObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}
