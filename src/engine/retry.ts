/** The one table of what is worth retrying (DESIGN §7). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return now + s * 1000;
  const d = Date.parse(value);
  return Number.isNaN(d) ? null : Math.max(now, d);
}
