import { depsOf, type StepRecord, type WorkflowRecord } from '../domain/records.js';
import type { StepResultRow } from '../store/hot-path.js';
import type { Store } from '../store/store.js';
import type { StepResults } from './scope.js';

export interface RunContext {
  wf: WorkflowRecord;
  /** Results (JSON text) of the workflow's steps, by step name: final outputs and accepted responses. */
  outputs: Map<string, StepResults>;
}

const MAX_CACHED = 5000;

/**
 * What a claimed step's run reads: its workflow (fixed once started) and the outputs of completed steps
 * (immutable once written). Both are kept per workflow, so a step whose parents finished in this
 * process needs no read at all; otherwise one read serves a whole claim.
 */
export function createRunContexts(store: Store) {
  const cache = new Map<string, RunContext>();

  /** Every parent's output is known: by induction, so are all ancestors' (each run needed its own). */
  const covers = (ctx: RunContext, s: StepRecord) =>
    depsOf(s).every((d) => ctx.outputs.has(d)) && (s.status !== 'compensating' || ctx.outputs.has(s.name));

  function remember(id: string, ctx: RunContext) {
    cache.delete(id);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(id, ctx);
  }

  return {
    /** Results committed in this process (by any path: a step's run, a callback, an operator) join the cache. */
    completed(rows: readonly StepResultRow[]): void {
      for (const r of rows) cache.get(r.workflow_id)?.outputs.set(r.name, { name: r.name, output: r.output, response: r.response });
    },

    async load(claimed: readonly StepRecord[]): Promise<Map<string, RunContext>> {
      const out = new Map<string, RunContext>();
      const missing = new Set<string>();
      for (const s of claimed) {
        const ctx = cache.get(s.workflow_id);
        if (ctx && covers(ctx, s)) out.set(s.workflow_id, ctx);
        else missing.add(s.workflow_id);
      }
      if (missing.size === 0) return out;
      const rows = await store.dialect.hot.runContext([...missing]);
      for (const wf of rows.workflows) {
        const ctx: RunContext = { wf, outputs: new Map() };
        out.set(wf.id, ctx);
        remember(wf.id, ctx);
      }
      for (const o of rows.outputs) out.get(o.workflow_id)?.outputs.set(o.name, { name: o.name, output: o.output, response: o.response });
      return out;
    },
  };
}
