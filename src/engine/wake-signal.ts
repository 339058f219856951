/**
 * The idle wait of a claim loop: `sleep` ends early on `wake()` or on stop. A wake-up that arrives
 * while the loop is busy (not sleeping) is kept, so the next `sleep` returns at once: the work it
 * announces may have committed after the loop looked. `settle()` marks the start of a look.
 */
export interface WakeSignal {
  wake(): void;
  settle(): void;
  sleep(ms: number): Promise<void>;
}

export function createWakeSignal(stopping: AbortSignal): WakeSignal {
  let pending = false;
  let wakeUp: (() => void) | null = null;
  return {
    wake() {
      const w = wakeUp;
      wakeUp = null;
      if (w) w();
      else pending = true;
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
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wakeUp = null;
          resolve();
        }, ms);
        // Resolved in the next turn, so every slot freed by one commit is claimed together.
        wakeUp = () => {
          clearTimeout(t);
          setImmediate(resolve);
        };
      });
    },
  };
}
