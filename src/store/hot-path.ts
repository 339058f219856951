import type { EventRecord, OutboxRecord, StepRecord, WorkflowRecord } from '../domain/records.js';
import type { WakeTopic } from './dialect.js';

/**
 * The engine's hot path: claims, the rows a run needs, and batches of transitions. Each statement is
 * written once per dialect (no query building per call) and touches many rows: one claim statement per
 * batch of free slots, one statement per table per batch of outcomes (graphile-worker's
 * `completeJobs`, Hatchet's buffered ingest). Figures: ../../bench/results.
 */
export interface HotPath {
  /**
   * Leases up to `limit` due steps: first the oldest of each tenant after the cursor, then the oldest
   * overall. In the same statement, the earliest moment after `now` a step becomes due, so a claim loop
   * that took fewer than it could sleeps exactly that long without asking again.
   */
  claim(o: ClaimRequest): Promise<ClaimResult>;
  /** The workflows of claimed steps and their completed steps' outputs (what templates read). */
  runContext(workflowIds: readonly string[]): Promise<RunContextRows>;
  /**
   * One transaction: locks and reads these workflows with all their steps, lets `decide` change them in
   * memory (synchronously), writes what changed, commits. Nothing else writes these rows meanwhile.
   */
  applyBatch<T>(workflowIds: readonly string[], decide: (loaded: ReadonlyMap<string, LoadedWorkflow>) => DecidedBatch<T>): Promise<T>;
}

export interface ClaimRequest {
  owner: string;
  limit: number;
  now: number;
  leaseGraceMs: number;
  /** Round-robin cursor over tenants: the ring of "one step per tenant" starts after this one. */
  afterTenant: string;
  /** Steps of these workflows are not claimed (their last outcome is still being recorded). */
  skipWorkflows: readonly string[];
}

export interface ClaimResult {
  steps: StepRecord[];
  nextDueAt: number | null;
}

/** A step's results as the next steps' templates read them: its final output and its accepted response. */
export interface StepResultRow {
  workflow_id: string;
  name: string;
  output: string | null;
  response: string | null;
}

export interface RunContextRows {
  workflows: WorkflowRecord[];
  outputs: StepResultRow[];
}

export interface LoadedWorkflow {
  wf: WorkflowRecord;
  steps: StepRecord[];
}

export interface BatchWrites {
  steps: StepRecord[];
  workflows: WorkflowRecord[];
  events: EventRecord[];
  outbox: OutboxRecord[];
  /**
   * What the batch makes due, for the other replicas: where the database carries wake-ups (PostgreSQL's
   * NOTIFY) they go out with the commit, in the same statement as the writes; the caller tells this
   * process itself (WakeupChannel.notifyLocal).
   */
  announce: WakeTopic[];
}

export interface DecidedBatch<T> {
  writes: BatchWrites;
  result: T;
}

export const EVENT_COLUMNS = [
  'id',
  'workflow_id',
  'tenant_id',
  'type',
  'step_name',
  'attempt',
  'actor',
  'reason',
  'data',
  'created_at',
] as const satisfies readonly (keyof EventRecord)[];
export const OUTBOX_COLUMNS = ['id', 'topic', 'payload', 'created_at', 'dispatched_at'] as const satisfies readonly (keyof OutboxRecord)[];

/** Rows as JSON arrays of the listed columns, the parameter of a set-based write. */
export function rowsAsJson<R>(rows: readonly R[], columns: readonly (keyof R)[]): string {
  return JSON.stringify(rows.map((r) => columns.map((c) => r[c] ?? null)));
}

/** The due test shared by every claim: next_run_at has come and no live lease holds the step. */
export const DUE = (now: string) => `next_run_at <= ${now} and (lease_expires_at is null or lease_expires_at < ${now})`;
