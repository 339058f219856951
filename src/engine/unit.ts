import type { Transaction } from 'kysely';
import type { Db } from '../store/db-types.js';
import type { WakeupChannel } from '../store/dialect.js';
import { workflowsRepo, toWorkflow, type WorkflowRow, type WorkflowPatch } from '../store/workflows-repo.js';
import { stepsRepo, toStep, type StepRow, type StepPatch, type Fence } from '../store/steps-repo.js';
import { eventsRepo } from '../store/events-repo.js';
import { outboxRepo } from '../store/outbox-repo.js';
import { fromJsonColumn, toJsonColumn } from '../store/columns.js';
import type { JsonObject } from '../domain/json.js';
import type { StepStatus, Step, Workflow } from '../domain/model.js';
import type { StepSpec } from '../domain/step-specs.js';
import { newEventId } from '../domain/ids.js';
import { stepView, workflowView } from '../domain/views.js';

/** A write that found the row changed under it (lease lost, status moved): the transaction is rolled back. */
export class StaleWrite extends Error {
  constructor(what: string) { super(`stale write: ${what}`); this.name = 'StaleWrite'; }
}

export const OUTBOUND_TOPICS = [
  'provisioning.workflow.started', 'provisioning.workflow.completed', 'provisioning.workflow.failed',
  'provisioning.workflow.rolled_back', 'provisioning.workflow.cancelled', 'provisioning.step.failed',
] as const;
export type OutboundTopic = (typeof OUTBOUND_TOPICS)[number];

export interface EventInput {
  type: string;
  step?: string | null;
  attempt?: number | null;
  actor?: string | null;
  reason?: string | null;
  data?: JsonObject;
}

/**
 * One workflow, locked, with all its steps, for the length of one transaction. Changes are written
 * through as they are made (each step write guarded), the workflow row, events and outbox at `flush`.
 */
export class WorkflowUnit {
  readonly steps: StepRow[];
  private wfPatch: WorkflowPatch = {};
  private events: EventInput[] = [];
  private pendingOutbox: { id: string; topic: string; payload: string; created_at: number; dispatched_at: null }[] = [];
  wake = false;
  /** Set by emit(): the commit writes outbox rows, so the webhook dispatcher has events to fan out. */
  emitted = false;

  private constructor(readonly tx: Transaction<Db>, readonly wf: WorkflowRow, steps: StepRow[], readonly now: number) {
    this.steps = steps;
  }

  static async load(tx: Transaction<Db>, workflowId: string, now: number): Promise<WorkflowUnit | null> {
    const wf = await workflowsRepo.lock(tx, workflowId, now);
    if (!wf) return null;
    return new WorkflowUnit(tx, wf, await stepsRepo.listForWorkflow(tx, workflowId), now);
  }

  step(name: string): StepRow | undefined { return this.steps.find((s) => s.name === name); }
  stepById(id: string): StepRow | undefined { return this.steps.find((s) => s.id === id); }

  static spec(s: StepRow): StepSpec { return JSON.parse(s.spec) as StepSpec; }
  static deps(s: StepRow): string[] { return fromJsonColumn<string[]>(s.depends_on) ?? []; }
  static state(s: StepRow): JsonObject { return fromJsonColumn<JsonObject>(s.state) ?? {}; }

  /** Writes a step change, fenced on the claim or guarded on the statuses the decision was made from. */
  async writeStep(s: StepRow, patch: StepPatch, guard: { fence: Fence } | { from: readonly StepStatus[] }) {
    const full = { ...patch, updated_at: this.now };
    const ok = 'fence' in guard
      ? await stepsRepo.updateFenced(this.tx, guard.fence, full)
      : await stepsRepo.updateIfStatus(this.tx, s.id, guard.from, full);
    if (!ok) throw new StaleWrite(`step ${s.name} changed concurrently`);
    Object.assign(s, full);
  }

  setWorkflow(patch: WorkflowPatch) {
    Object.assign(this.wf, patch);
    Object.assign(this.wfPatch, patch);
  }

  get status() { return this.wf.status as Workflow['status']; }

  event(e: EventInput) { this.events.push(e); }

  /** Snapshots the workflow (and step) now, so each event shows the state it announces. */
  emit(topic: OutboundTopic, step?: StepRow) {
    const id = newEventId();
    const payload = {
      event_id: id,
      event_type: topic,
      event_version: '1.0',
      occurred_at: new Date(this.now).toISOString(),
      source: 'provisioner',
      idempotency_key: `${topic}:${this.wf.id}${step ? `:${step.name}:${step.attempt}` : ''}`,
      data: { workflow: workflowView(toWorkflow(this.wf)), ...(step ? { step: stepView(toStep(step), this.steps.map(toStep)) } : {}) },
    };
    this.pendingOutbox.push({ id, topic, payload: JSON.stringify(payload), created_at: this.now, dispatched_at: null });
    this.emitted = true;
  }

  domainSteps(): Step[] { return this.steps.map(toStep); }

  async flush() {
    if (Object.keys(this.wfPatch).length > 0) {
      await workflowsRepo.update(this.tx, this.wf.id, this.wfPatch);
      this.wfPatch = {};
    }
    await eventsRepo.insertMany(this.tx, this.events.map((e) => ({
      id: newEventId(), workflow_id: this.wf.id, tenant_id: this.wf.tenant_id, type: e.type, step_name: e.step ?? null,
      attempt: e.attempt ?? null, actor: e.actor ?? null, reason: e.reason ?? null, data: toJsonColumn(e.data ?? {}), created_at: this.now,
    })));
    this.events = [];
    await outboxRepo.insertMany(this.tx, this.pendingOutbox);
    this.pendingOutbox = [];
  }
}

/**
 * Call once the unit's transaction has committed (never inside it: a listener would look before the
 * rows exist): wakes the executors when steps became due and the webhook dispatchers when events were
 * written, on this replica and (PostgreSQL NOTIFY) the others. Without it an event waits for the
 * dispatcher's next poll.
 */
export function announceCommit(wakeups: WakeupChannel, u: Pick<WorkflowUnit, 'wake' | 'emitted'> | null): void {
  if (u?.wake) wakeups.notify('steps');
  if (u?.emitted) wakeups.notify('webhooks');
}
