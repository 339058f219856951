import { RateLimited } from '../domain/errors.js';

export interface RateLimiter {
  take(key: string): void;
}

/**
 * Token bucket per source, in memory (the callback route spends one per failed token lookup): each replica limits what reaches it. Buckets idle for a
 * minute are dropped so a flood of sources cannot grow the map without bound.
 */
export function createRateLimiter(perMinute: number, clock: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refillPerMs = perMinute / 60_000;
  let lastSweep = clock();
  return {
    take(key) {
      const now = clock();
      if (now - lastSweep > 60_000) {
        for (const [k, b] of buckets) if (now - b.at > 60_000) buckets.delete(k);
        lastSweep = now;
      }
      const b = buckets.get(key) ?? { tokens: perMinute, at: now };
      b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * refillPerMs);
      b.at = now;
      buckets.set(key, b);
      if (b.tokens < 1) {
        const retryAfterS = Math.max(1, Math.ceil((1 - b.tokens) / refillPerMs / 1000));
        throw new RateLimited(
          `too many unknown callback tokens from ${key}; retry after ${retryAfterS} s with the callback_token sent with the request`,
          retryAfterS,
        );
      }
      b.tokens -= 1;
    },
  };
}
