import type { JsonObject } from './json.js';
import type { StepStatus, WorkflowStatus } from './model.js';
import { newEventId } from './ids.js';
import { stepFromRecord, toJsonText, workflowFromRecord, type EventRecord, type OutboxRecord, type StepRecord, type WorkflowRecord } from './records.js';
import type { OutboundTopic } from './webhook-topics.js';
import { stepView, workflowView } from './views.js';

/** A decision made from rows that no longer hold (a lost lease, a status that moved): it changes nothing. */
export class StaleWrite extends Error {
  constructor(what: string) { super(`stale write: ${what}`); this.name = 'StaleWrite'; }
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

export interface Actor { actor: string | null; reason: string | null }

/** Merges newly reported credentials into the sealed ones; supplied by the engine (it holds the keys). */
export type CredentialSealer = (sealed: string | null, add: JsonObject) => string;

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

  constructor(readonly wf: WorkflowRecord, readonly steps: StepRecord[], readonly now: number, private readonly sealer?: CredentialSealer) {}

  get status(): WorkflowStatus { return this.wf.status as WorkflowStatus; }

  step(name: string): StepRecord | undefined { return this.steps.find((s) => s.name === name); }
  stepById(id: string): StepRecord | undefined { return this.steps.find((s) => s.id === id); }

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

  mergeCredentials(add: JsonObject): void {
    if (!this.sealer) throw new Error('this draft cannot seal credentials');
    this.setWorkflow({ credentials: this.sealer(this.wf.credentials, add) });
  }

  event(e: DraftEvent): void { this.events.push(e); }

  /** Snapshots the workflow (and step) now, so each message shows the state it announces (DESIGN §9). */
  emit(topic: OutboundTopic, step?: StepRecord): void {
    this.outbox.push(outboxMessage(topic, this.now, this.wf, step ? { step, steps: this.steps } : undefined));
  }

  /** Records to write: events numbered in the order they were made. */
  eventRecords(): EventRecord[] {
    return this.events.map((e) => ({
      id: newEventId(), workflow_id: this.wf.id, tenant_id: this.wf.tenant_id, type: e.type, step_name: e.step ?? null,
      attempt: e.attempt ?? null, actor: e.actor ?? null, reason: e.reason ?? null, data: toJsonText(e.data ?? {}), created_at: this.now,
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
      this.steps.forEach((s, i) => { Object.assign(s, steps[i]); });
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
export function outboxMessage(topic: OutboundTopic, now: number, wf: WorkflowRecord, at?: { step: StepRecord; steps: readonly StepRecord[] }): OutboxRecord {
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
