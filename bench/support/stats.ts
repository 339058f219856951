// Small numeric helpers: percentiles over raw samples and CPU accounting of the whole machine.
import { cpus, loadavg } from 'node:os';
import { createServer } from 'node:net';

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles over raw samples (no histogram rounding). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
  return {
    n: sorted.length,
    p50: round(at(50)),
    p99: round(at(99)),
    max: round(sorted[sorted.length - 1] as number),
    mean: round(sorted.reduce((s, v) => s + v, 0) / sorted.length),
  };
}

export const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The 1-minute load average: how many processes wanted a core just before a workload started. */
export const loadAverage = () => round(loadavg()[0] ?? 0, 2);

/** Busy and total CPU time of all cores, to report how loaded the machine was during a workload. */
export function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

/** Share of the machine's CPU (0-100 % of all cores) used between two machineCpu() readings. */
export function machineBusyPercent(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const total = b.total - a.total;
  return total <= 0 ? 0 : round((100 * (b.busy - a.busy)) / total, 1);
}

/** A TCP port that was free a moment ago (the engine must know its own URL before it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
