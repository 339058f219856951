// Types of statement-meter.mjs.
export interface StatementCounts {
  total: number;
  byKind: Record<string, number>;
  msByKind: Record<string, number>;
}
/** Main thread: time statements by kind from now on (here and in worker threads). */
export function timeStatements(on: boolean): void;
export function resetStatements(): void;
/** Counts since the last reset, most frequent kinds first (worker threads' counts up to ~100 ms ago). */
export function statementsSnapshot(): StatementCounts;
