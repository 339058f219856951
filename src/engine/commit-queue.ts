import type { Logger } from 'pino';
import { NotFound, toError } from '../domain/errors.js';
import type { JsonObject } from '../domain/json.js';
import type { WorkflowRecord } from '../domain/records.js';
import { WorkflowDraft, type CredentialSealer } from '../domain/workflow-draft.js';
import type { BatchWrites, StepResultRow } from '../store/hot-path.js';
import type { Store } from '../store/store.js';
import type { CredentialCipher } from './credential-cipher.js';

/** Stored credentials that no configured key opens: the transition that needs them cannot be recorded. */
export class CredentialsUnreadable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsUnreadable';
  }
}

/**
 * Group commit (Hatchet's buffered ingest, graphile-worker's batched completions): decisions about
 * workflows (step outcomes, callbacks, operator actions) queue here. A flush starts at once when none
 * is running; the next takes everything that arrived meanwhile, so there is no fixed delay and a busy
 * engine commits many outcomes per transaction. Each decision runs on the workflow's rows read under
 * its lock in that transaction; one that throws is undone alone and rejected, the rest commit. A batch
 * the database refuses is split in halves to isolate the bad decision. Nothing resolves before commit.
 */
export interface CommitQueue {
  submit<T>(workflowId: string, decide: (d: WorkflowDraft) => T): Promise<T>;
  /** Tells `listener` what each batch changed, once it is committed (before its decisions resolve). */
  onCommit(listener: (c: Committed) => void): () => void;
  /** Resolves once everything queued so far is committed or rejected. */
  drain(): Promise<void>;
}

export interface Committed {
  /**
   * When the first step the batch left due later becomes due (a poll, a retry's backoff), else null: a
   * claim loop that measured its sleep before the commit would sleep past it. Steps due already are
   * announced to every replica (the 'steps' wake-up) instead.
   */
  laterDueAt: number | null;
  /** Steps the batch completed, with their results: immutable from now on, so they can be cached. */
  completed: StepResultRow[];
}

interface Item {
  workflowId: string;
  decide: (d: WorkflowDraft) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  value?: unknown;
  error?: unknown;
}

const MAX_BATCH = 256;

export interface CommitQueueDeps {
  store: Store;
  cipher: CredentialCipher;
  log: Logger;
  clock?: () => number;
  onBatch?: (size: number) => void;
}

export function createCommitQueue(deps: CommitQueueDeps): CommitQueue {
  const { store, cipher, log } = deps;
  const now = deps.clock ?? Date.now;
  let queue: Item[] = [];
  let flushing: Promise<void> | null = null;
  const observers = new Set<(c: Committed) => void>();

  const sealer: CredentialSealer = {
    seal: (value) => cipher.encrypt(value),
    merge(sealed) {
      const merged: JsonObject = {};
      for (const one of sealed) {
        try {
          Object.assign(merged, cipher.decrypt(one));
        } catch (e) {
          throw new CredentialsUnreadable(toError(e).message);
        }
      }
      return cipher.encrypt(merged);
    },
  };

  async function drainQueue() {
    while (queue.length > 0) {
      const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH);
      queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH);
      await flush(batch);
    }
    flushing = null;
  }

  async function flush(batch: Item[]): Promise<void> {
    const ids = [...new Set(batch.map((i) => i.workflowId))].sort();
    let signals: Signals;
    const drafts = new Map<string, WorkflowDraft>();
    try {
      signals = await store.dialect.hot.applyBatch(ids, (loaded) => {
        const at = now();
        drafts.clear();
        for (const item of batch) {
          item.value = undefined;
          item.error = undefined;
          let d = drafts.get(item.workflowId);
          if (!d) {
            const rows = loaded.get(item.workflowId);
            if (!rows) {
              item.error = new NotFound(`workflow ${item.workflowId} not found`);
              continue;
            }
            d = new WorkflowDraft(rows.wf, rows.steps, at, sealer);
            drafts.set(item.workflowId, d);
          }
          const restore = d.checkpoint();
          try {
            item.value = item.decide(d);
          } catch (e) {
            restore();
            item.error = e;
          }
        }
        return collect(drafts.values(), at);
      });
    } catch (e) {
      if (batch.length > 1 && !store.dialect.isConnectionError(e)) {
        log.warn({ err: toError(e), size: batch.length }, 'a batch of transitions failed; splitting it to isolate the cause');
        const half = Math.ceil(batch.length / 2);
        await flush(batch.slice(0, half));
        await flush(batch.slice(half));
        return;
      }
      for (const item of batch) item.reject(e);
      return;
    }
    deps.onBatch?.(batch.length);
    for (const n of signals.notable) {
      const fields = { workflow_id: n.workflow_id, tenant: n.tenant_id, step: n.step_name ?? undefined, error: n.error };
      if (n.type === 'workflow.rollback_failed')
        log.error(fields, 'rollback incomplete: an operator must clean up and resolve the workflow');
      else if (n.type === 'workflow.failed') log.warn(fields, 'workflow failed');
      else log.warn(fields, n.type === 'step.compensation_failed' ? 'compensation failed' : 'step failed');
    }
    // This process is told after the commit, never inside it: a listener would look before the rows exist.
    // The other replicas were told by the commit itself (signals.announce, written with the batch).
    const wakeups = store.dialect.wakeups();
    const committedAt = now();
    let first = Number.POSITIVE_INFINITY;
    for (const d of drafts.values()) first = Math.min(first, d.earliestDue(committedAt) ?? first);
    if (signals.wake || first <= committedAt) wakeups.notifyLocal('steps');
    if (observers.size > 0) {
      const committed: Committed = { laterDueAt: first > committedAt && first < Number.POSITIVE_INFINITY ? first : null, completed: [] };
      for (const d of drafts.values())
        for (const s of d.changed)
          if (s.status === 'completed')
            committed.completed.push({ workflow_id: s.workflow_id, name: s.name, output: s.output, response: s.response });
      for (const observe of observers) observe(committed);
    }
    if (signals.emitted) wakeups.notifyLocal('webhooks');
    for (const item of batch) {
      if (item.error !== undefined) item.reject(item.error);
      else item.resolve(item.value);
    }
  }

  return {
    submit<T>(workflowId: string, decide: (d: WorkflowDraft) => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ workflowId, decide, resolve: resolve as (v: unknown) => void, reject });
        // setImmediate, not a timer: the flush waits only for the outcomes whose I/O completed in this
        // turn of the event loop, so an idle engine commits at once and a busy one commits them together.
        flushing ??= new Promise<void>((r) => setImmediate(r)).then(drainQueue);
      });
    },
    async drain() {
      while (flushing) await flushing;
    },
    onCommit(listener) {
      observers.add(listener);
      return () => observers.delete(listener);
    },
  };
}

/** Failures an operator should see in the logs, at warn or error (the history has them all). */
const NOTABLE = new Set(['step.failed', 'step.compensation_failed', 'workflow.failed', 'workflow.rollback_failed']);

interface Signals {
  wake: boolean;
  emitted: boolean;
  notable: { type: string; workflow_id: string; tenant_id: string; step_name: string | null; error: string | undefined }[];
}

/**
 * The rows to write, and what to announce to the other replicas with them. Every due step of the batch's
 * workflows is announced, not only those it made due: a claim on PostgreSQL passes over rows a batch holds
 * (SKIP LOCKED), and an executor's claims pass over workflows whose outcome is being recorded, so a step due
 * before this commit may have been passed over.
 */
function collect(drafts: Iterable<WorkflowDraft>, at: number): { writes: BatchWrites; result: Signals } {
  const writes: BatchWrites = { steps: [], workflows: [], events: [], outbox: [], announce: [] };
  const result: Signals = { wake: false, emitted: false, notable: [] };
  let dueNow = false;
  for (const d of drafts) {
    dueNow ||= (d.earliestDue(at) ?? Number.POSITIVE_INFINITY) <= at;
    // Any change moves the workflow's updated_at: the version an open UI page compares before reading more.
    if (d.changed.size > 0 && !d.workflowChanged) d.setWorkflow({});
    writes.steps.push(...d.changed);
    if (d.workflowChanged) writes.workflows.push(d.wf as WorkflowRecord);
    for (const e of d.eventRecords()) {
      writes.events.push(e);
      if (NOTABLE.has(e.type)) {
        const data = JSON.parse(e.data) as { error?: unknown };
        result.notable.push({
          type: e.type,
          workflow_id: e.workflow_id,
          tenant_id: e.tenant_id,
          step_name: e.step_name,
          error: typeof data.error === 'string' ? data.error : undefined,
        });
      }
    }
    writes.outbox.push(...d.outbox);
    result.wake ||= d.wake;
  }
  result.emitted = writes.outbox.length > 0;
  if (result.wake || dueNow) writes.announce.push('steps');
  if (result.emitted) writes.announce.push('webhooks');
  return { writes, result };
}
