/**
 * The idle wait of a claim loop: `sleep` ends early on `wake()` or on stop. A wake-up that arrives
 * while the loop is busy (not sleeping) is kept, so the next `sleep` returns at once: the work it
 * announces may have committed after the loop looked. `settle()` marks the start of a look.
 *
 * `wakeIn(ms)` says "something becomes due in ms": a sleep in progress ends by then, and one that has
 * not begun yet lasts no longer. A commit that schedules work (a poll, a retry's backoff) after the loop
 * measured its sleep must not wait for the fallback poll.
 */
export interface WakeSignal {
  wake(): void;
  wakeIn(ms: number): void;
  settle(): void;
  sleep(ms: number): Promise<void>;
}

export function createWakeSignal(stopping: AbortSignal, now: () => number = Date.now): WakeSignal {
  let pending = false;
  /** A due time announced while not sleeping: the next sleep ends by then. */
  let dueBy = Number.POSITIVE_INFINITY;
  let sleeping: { until: number; timer: NodeJS.Timeout; end: () => void; wakeUp: () => void } | null = null;

  return {
    wake() {
      const s = sleeping;
      if (s) s.wakeUp();
      else pending = true;
    },
    wakeIn(ms) {
      const at = now() + Math.max(0, ms);
      const s = sleeping;
      if (!s) dueBy = Math.min(dueBy, at);
      else if (at < s.until) {
        clearTimeout(s.timer);
        s.until = at;
        s.timer = setTimeout(s.end, Math.max(0, at - now()));
      }
    },
    settle() {
      pending = false;
    },
    async sleep(ms) {
      if (stopping.aborted) return;
      if (pending) {
        pending = false;
        return;
      }
      const until = Math.min(now() + ms, dueBy);
      dueBy = Number.POSITIVE_INFINITY;
      await new Promise<void>((resolve) => {
        const end = () => {
          sleeping = null;
          resolve();
        };
        sleeping = {
          until,
          timer: setTimeout(end, Math.max(0, until - now())),
          end,
          // Resolved in the next turn, so every slot freed by one commit is claimed together.
          wakeUp: () => {
            const s = sleeping;
            sleeping = null;
            if (s) clearTimeout(s.timer);
            setImmediate(resolve);
          },
        };
      });
    },
  };
}
