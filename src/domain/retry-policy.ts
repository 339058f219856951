import { DEFAULT_RETRY, type RetrySpec } from './step-specs.js';

export function effectiveRetry(spec: RetrySpec | undefined) {
  return { ...DEFAULT_RETRY, ...spec };
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries of many steps spread out. */
export function backoffMs(retry: RetrySpec | undefined, attempt: number, random = Math.random): number {
  const r = effectiveRetry(retry);
  const base = Math.min(r.max_s, r.initial_s * r.backoff ** Math.max(0, attempt - 1)) * 1000;
  return Math.round(base / 2 + (random() * base) / 2);
}
