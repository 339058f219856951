import { createHash } from 'node:crypto';
import { isJsonObject, type Json } from './json.js';

/**
 * What an Idempotency-Key stands for: the kind, the service and the parameters, canonical (key order
 * does not matter). A key reused for a different request is refused, as Stripe does (issue 11 finding 9).
 */
export function startFingerprint(kind: string, serviceSlug: string, parameters: Json): string {
  return createHash('sha256')
    .update(JSON.stringify([kind, serviceSlug, canonical(parameters)]))
    .digest('hex');
}

function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical);
  if (isJsonObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  return v;
}
