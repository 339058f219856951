import type { Logger } from 'pino';
import { toError } from '../domain/errors.js';
import type { WakeTopic, WakeupChannel } from '../store/dialect.js';
import { createWakeSignal } from './wake-signal.js';

/**
 * The one claim → run → release loop (graphile-worker's worker, pg-boss's `notify`), shared by the
 * executor and the webhook dispatcher. It claims as many jobs as it has free slots, runs each without
 * waiting for the others, and sleeps until a wake-up, a freed slot, the next due time or the fallback
 * poll. `stop(grace)` stops claiming, lets jobs finish for `grace`, then aborts their signal: a job must
 * then hand its lease back (or record its result) so another process takes it at once.
 */
export interface LeaseLoop {
  start(): void;
  stop(graceMs?: number): Promise<void>;
  running(): number;
  wake(): void;
  /** Work becomes due at `at` (this clock): the loop looks by then, however long it meant to sleep. */
  wakeAt(at: number): void;
}

export interface LeaseLoopOptions<J> {
  log: Logger;
  /** What a job is called in logs ("step", "webhook delivery"). */
  what: string;
  concurrency: number;
  pollIntervalMs: number;
  wakeups: WakeupChannel;
  wakeOn: WakeTopic;
  /**
   * Leases up to `free` jobs (a claim may do other work first, such as fanning out events). A claim that
   * also saw when the next job becomes due says so (`nextDueAt`), and the loop asks nothing more.
   */
  claim(free: number): Promise<Claimed<J>>;
  /** Runs one job to its end; `aborted` fires when stopping has run out of grace. */
  run(job: J, aborted: AbortSignal): Promise<void>;
  key(job: J): string;
  /**
   * The earliest moment after `since` (when the last claim looked) a job becomes due, so an idle loop
   * sleeps exactly that long. Measured from the claim, not from now: a job that became due between the
   * claim and this query is found (and claimed at once), not skipped until the fallback poll.
   */
  nextDueAt(since: number): Promise<number | null>;
  now: () => number;
}

export interface Claimed<J> {
  jobs: J[];
  /** The earliest moment after the claim a job not claimed becomes due (null: none), if the claim looked. */
  nextDueAt?: number | null;
}

export function createLeaseLoop<J>(o: LeaseLoopOptions<J>): LeaseLoop {
  const stopping = new AbortController();
  const abortRuns = new AbortController();
  const running = new Map<string, Promise<void>>();
  const signal = createWakeSignal(stopping.signal);
  const wake = () => signal.wake();
  let loop: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;

  async function run() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const free = o.concurrency - running.size;
      let jobs: J[] = [];
      let nextDueAt: number | null | undefined;
      const lookedAt = o.now();
      if (free > 0) {
        signal.settle(); // this claim sees everything committed before it
        try {
          ({ jobs, nextDueAt } = await o.claim(free));
          failures = 0;
        } catch (e) {
          failures++;
          o.log.warn({ err: toError(e) }, `claiming ${o.what}s failed; retrying`);
          await signal.sleep(Math.min(5000, 100 * 2 ** failures));
          continue;
        }
      }
      for (const job of jobs) track(job);
      if (free > 0 && jobs.length === free) continue; // there may be more due right now
      let idle = o.pollIntervalMs;
      if (free > 0) {
        const next = nextDueAt !== undefined ? nextDueAt : await o.nextDueAt(lookedAt).catch(() => null);
        if (next !== null) idle = Math.max(1, Math.min(idle, next - o.now()));
      }
      await signal.sleep(idle);
    }
  }

  function track(job: J) {
    const key = o.key(job);
    const p = o
      .run(job, abortRuns.signal)
      .catch((e) => o.log.error({ err: toError(e), key }, `${o.what} crashed; its lease will expire and it will run again`))
      .finally(() => {
        running.delete(key);
        wake();
      });
    running.set(key, p);
  }

  return {
    start() {
      if (loop) return;
      unsubscribe = o.wakeups.subscribe(o.wakeOn, wake);
      loop = run().catch((e) => o.log.fatal({ err: toError(e) }, `${o.what} loop died`));
    },
    async stop(graceMs = 10_000) {
      stopping.abort();
      wake();
      await loop;
      if (running.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        });
        await Promise.race([Promise.allSettled([...running.values()]), grace]);
        clearTimeout(timer);
      }
      abortRuns.abort();
      await Promise.allSettled([...running.values()]);
      unsubscribe?.();
      unsubscribe = null;
    },
    running: () => running.size,
    wake,
    wakeAt: (at) => signal.wakeIn(at - o.now()),
  };
}
