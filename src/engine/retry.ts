import { DEFAULT_RETRY, type RetrySpec } from '../domain/step-specs.js';

/** The one table of what is worth retrying (DESIGN §7). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function effectiveRetry(spec: RetrySpec | undefined) {
  return { ...DEFAULT_RETRY, ...spec };
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries of many steps spread out. */
export function backoffMs(retry: RetrySpec | undefined, attempt: number, random = Math.random): number {
  const r = effectiveRetry(retry);
  const base = Math.min(r.max_s, r.initial_s * r.backoff ** Math.max(0, attempt - 1)) * 1000;
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return now + s * 1000;
  const d = Date.parse(value);
  return Number.isNaN(d) ? null : Math.max(now, d);
}
