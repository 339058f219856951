import type { JsonObject } from './json.js';
import type { StepStatus, WorkflowStatus } from './model.js';
import { newEventId } from './ids.js';
import {
  depsOf,
  stateOf,
  stepFromRecord,
  toJsonText,
  workflowFromRecord,
  type EventRecord,
  type OutboxRecord,
  type StepRecord,
  type WorkflowRecord,
} from './records.js';
import type { OutboundTopic } from './webhook-topics.js';
import { stepView, workflowView } from './views.js';

/** A decision made from rows that no longer hold (a lost lease, a status that moved): it changes nothing. */
export class StaleWrite extends Error {
  constructor(what: string) {
    super(`stale write: ${what}`);
    this.name = 'StaleWrite';
  }
}

/**
 * How a change to a step is guarded: by the claim that leased it (`owner`, the fence) or by the statuses
 * the decision was made from. The draft's rows are read under the workflow's lock, so checking the guard
 * here is checking it in the database.
 */
export type WriteGuard = { owner: string } | { from: readonly StepStatus[] };

export interface DraftEvent {
  type: string;
  step?: string | null;
  attempt?: number | null;
  actor?: string | null;
  reason?: string | null;
  data?: JsonObject;
}

export interface Actor {
  actor: string | null;
  reason: string | null;
}

/** Seals credentials, and merges sealed sets in order (later keys win); supplied by the engine (it holds the keys). */
export interface CredentialSealer {
  seal(value: JsonObject): string;
  merge(sealed: readonly string[]): string;
}

/**
 * One workflow and all its steps, in memory, for the length of one batch. Transitions change the rows
 * here (synchronously, no I/O) and record events and outbox messages; the store then writes the changed
 * rows in one statement per table. `checkpoint()` lets one decision be undone without touching others
 * in the same batch.
 */
export class WorkflowDraft {
  readonly changed = new Set<StepRecord>();
  workflowChanged = false;
  events: DraftEvent[] = [];
  outbox: OutboxRecord[] = [];
  /** Steps became due: wake the executors after the commit. */
  wake = false;

  constructor(
    readonly wf: WorkflowRecord,
    readonly steps: StepRecord[],
    readonly now: number,
    private readonly sealer?: CredentialSealer,
  ) {}

  get status(): WorkflowStatus {
    return this.wf.status as WorkflowStatus;
  }

  /** When the first step not leased at `at` is due (it may be already), or null when none waits. */
  earliestDue(at: number): number | null {
    let first: number | null = null;
    for (const s of this.steps) {
      if (s.next_run_at === null || (s.lease_expires_at !== null && s.lease_expires_at >= at)) continue;
      if (first === null || s.next_run_at < first) first = s.next_run_at;
    }
    return first;
  }

  step(name: string): StepRecord | undefined {
    return this.steps.find((s) => s.name === name);
  }
  stepById(id: string): StepRecord | undefined {
    return this.steps.find((s) => s.id === id);
  }

  /** Throws StaleWrite when the guard does not hold; otherwise changes the row. */
  writeStep(s: StepRecord, patch: Partial<StepRecord>, guard: WriteGuard): void {
    const holds = 'owner' in guard ? s.lease_owner === guard.owner : guard.from.includes(s.status as StepStatus);
    if (!holds) throw new StaleWrite(`step ${s.name} is ${s.status}${s.lease_owner ? ` (leased by ${s.lease_owner})` : ''}`);
    Object.assign(s, patch, { updated_at: this.now });
    this.changed.add(s);
  }

  setWorkflow(patch: Partial<WorkflowRecord>): void {
    Object.assign(this.wf, patch, { updated_at: this.now });
    this.workflowChanged = true;
  }

  /**
   * Records a step's reported credentials (sealed, in its state) and recomputes the workflow's: the
   * credentials of every completed step merged in the workflow's reporting order (`reportingOrder`), so
   * the result never depends on which step happened to finish last.
   */
  recordCredentials(s: StepRecord, add: JsonObject): void {
    if (!this.sealer) throw new Error('this draft cannot seal credentials');
    Object.assign(s, { state: toJsonText({ ...stateOf(s), sealed_credentials: this.sealer.seal(add) }) });
    this.changed.add(s);
    const sealed = reportingOrder(this.steps)
      .map((x) => stateOf(x).sealed_credentials)
      .filter((x): x is string => typeof x === 'string');
    this.setWorkflow({ credentials: this.sealer.merge(sealed) });
  }

  event(e: DraftEvent): void {
    this.events.push(e);
  }

  /** Snapshots the workflow (and step) now, so each message shows the state it announces (DESIGN §9). */
  emit(topic: OutboundTopic, step?: StepRecord): void {
    this.outbox.push(outboxMessage(topic, this.now, this.wf, step ? { step, steps: this.steps } : undefined));
  }

  /** Records to write: events numbered in the order they were made. */
  eventRecords(): EventRecord[] {
    return this.events.map((e) => ({
      id: newEventId(),
      workflow_id: this.wf.id,
      tenant_id: this.wf.tenant_id,
      type: e.type,
      step_name: e.step ?? null,
      attempt: e.attempt ?? null,
      actor: e.actor ?? null,
      reason: e.reason ?? null,
      data: toJsonText(e.data ?? {}),
      created_at: this.now,
    }));
  }

  /** Undoes everything done after this call (rows, events, messages) when the returned function runs. */
  checkpoint(): () => void {
    const wf = { ...this.wf };
    const steps = this.steps.map((s) => ({ ...s }));
    const changed = new Set(this.changed);
    const { workflowChanged, wake } = this;
    const events = this.events.length;
    const outbox = this.outbox.length;
    return () => {
      Object.assign(this.wf, wf);
      this.steps.forEach((s, i) => {
        Object.assign(s, steps[i]);
      });
      this.changed.clear();
      for (const s of changed) this.changed.add(s);
      this.workflowChanged = workflowChanged;
      this.wake = wake;
      this.events.length = events;
      this.outbox.length = outbox;
    };
  }
}

/** The one place a webhook body is built (DESIGN §9): from the start, every transition and redelivery. */
export function outboxMessage(
  topic: OutboundTopic,
  now: number,
  wf: WorkflowRecord,
  at?: { step: StepRecord; steps: readonly StepRecord[] },
): OutboxRecord {
  const id = newEventId();
  const payload = {
    event_id: id,
    event_type: topic,
    event_version: '1.0',
    occurred_at: new Date(now).toISOString(),
    source: 'provisioner',
    idempotency_key: `${topic}:${wf.id}${at ? `:${at.step.name}:${at.step.attempt}` : ''}`,
    data: {
      workflow: workflowView(workflowFromRecord(wf)),
      ...(at ? { step: stepView(stepFromRecord(at.step), at.steps.map(stepFromRecord)) } : {}),
    },
  };
  return { id, topic, payload: JSON.stringify(payload), created_at: now, dispatched_at: null };
}

/**
 * The order in which completed steps' results count (DESIGN §6, made deterministic): by depth in the DAG
 * (a step after all its dependencies), then by position in the manifest. The workflow's endpoint is the
 * one reported by the last completed step in this order that reported one; credentials merge in this
 * order, a later step's key winning.
 */
export function reportingOrder(steps: readonly StepRecord[]): StepRecord[] {
  const depth = new Map<string, number>();
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depthOf = (s: StepRecord, seen = new Set<string>()): number => {
    const known = depth.get(s.name);
    if (known !== undefined) return known;
    if (seen.has(s.name)) return 0;
    seen.add(s.name);
    const d =
      Math.max(
        -1,
        ...depsOf(s).map((n) => {
          const p = byName.get(n);
          return p ? depthOf(p, seen) : -1;
        }),
      ) + 1;
    depth.set(s.name, d);
    return d;
  };
  return steps.filter((s) => s.status === 'completed').sort((a, b) => depthOf(a) - depthOf(b) || a.position - b.position);
}
