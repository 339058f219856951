import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { IntakeConfig } from '../config.js';
import { subscriptionEventsRepo, type SubscriptionEventPatch, type SubscriptionEventRow } from '../store/subscription-events-repo.js';
import { fromJsonColumn, toJsonColumn } from '../store/columns.js';
import { ActiveWorkflowConflict, NotFound, ProvisionerError, ValidationFailed, toError } from '../domain/errors.js';
import type { JsonObject } from '../domain/json.js';
import type { WorkflowKind } from '../domain/model.js';
import { ulid } from '../domain/ids.js';
import {
  actionOf,
  mapEvent,
  targetIssues,
  type SubscriptionEventAnswer,
  type SubscriptionEventEnvelope,
  type SubscriptionEventResponse,
  type SubscriptionEventStatus,
} from '../domain/subscription-event.js';
import { loadServiceState } from './service-state.js';
import { verifyIntakeSignature } from './intake-signature.js';
import type { createWorkflowStarter } from './workflow-starter.js';

type Starter = ReturnType<typeof createWorkflowStarter>;

export interface IntakeDeps {
  store: Store;
  starter: Starter;
  config: IntakeConfig;
  log: Logger;
  clock?: () => number;
  /** Fallback pass over the queue when no wake-up arrives (ms). */
  pollIntervalMs?: number;
}

export interface Received {
  answer: SubscriptionEventAnswer;
  repeat: boolean;
}

const MIN_GAP_MS = 100;

/** A queued event another replica applied first: its workflow (in the same transaction) is undone. */
class ClaimLost extends Error {}

/**
 * ScaiControl's subscription events in (issue 14): each event is stored in the transaction that starts
 * its workflow, or that records it queued, ignored or rejected, so nothing is lost between the answer and
 * the workflow. Queued events (a workflow of that tenant × service was under way) are applied in order by
 * a small loop once it has ended; every replica may run the loop, the fenced update decides who applies.
 */
export function createSubscriptionIntake(deps: IntakeDeps) {
  const { store, starter, config, log } = deps;
  const now = deps.clock ?? Date.now;
  const enabled = config.secrets.length > 0;

  function verify(headers: Record<string, unknown>, raw: Buffer): void {
    if (!enabled)
      throw new NotFound('the subscription intake is off; set PROVISIONER_INTAKE_SECRET to the webhook secret configured in ScaiControl');
    verifyIntakeSignature({
      secrets: config.secrets,
      signature: headers['x-scaicontrol-signature'],
      timestamp: headers['x-scaicontrol-timestamp'],
      raw,
      now: now(),
    });
  }

  async function receive(env: SubscriptionEventEnvelope, raw: string): Promise<Received> {
    const key = env.idempotency_key ?? null;
    const seen = await subscriptionEventsRepo.findRepeat(store.db, env.event_id, key);
    // A rejected event is evaluated again when resent: the operator may have fixed the mapping or the service.
    if (seen && seen.status !== 'rejected') return { answer: answerOf(seen), repeat: true };

    const { event, issues } = mapEvent(env, config.fieldMap);
    const t = now();
    const row: SubscriptionEventRow = {
      id: `sev_${ulid()}`,
      event_id: env.event_id,
      idempotency_key: key,
      event_type: env.event_type,
      event_version: env.event_version === undefined || env.event_version === null ? null : String(env.event_version),
      source: env.source ?? null,
      occurred_at: Date.parse(env.occurred_at),
      subscription_id: event.subscriptionId,
      tenant_id: event.tenantId,
      service_slug: event.serviceSlug,
      action: null,
      parameters: toJsonColumn(event.parameters),
      status: 'queued',
      reason: null,
      workflow_id: null,
      blocked_by: null,
      payload: raw,
      received_at: t,
      updated_at: t,
    };
    const act = actionOf(env.event_type, event.changeKind);
    if ('ignored' in act) return recordNew(row, { status: 'ignored', reason: act.ignored });
    row.action = act.action;
    const problems = [...issues, ...targetIssues(event, config.fieldMap)];
    if (problems.length > 0) {
      await recordNew(row, { status: 'rejected', reason: problems.map((p) => p.msg).join('; ') });
      throw new ValidationFailed(problems);
    }
    return apply(row, 'new');
  }

  /** Stores a new event with its outcome; a concurrent copy that won the race is answered instead. */
  async function recordNew(row: SubscriptionEventRow, patch: SubscriptionEventPatch): Promise<Received> {
    const final = { ...row, ...patch, updated_at: now() } as SubscriptionEventRow;
    try {
      await store.transaction((tx) => subscriptionEventsRepo.record(tx, final));
    } catch (e) {
      return repeatAfterRace(e, row);
    }
    logOutcome(final);
    return { answer: answerOf(final), repeat: false };
  }

  async function repeatAfterRace(e: unknown, row: SubscriptionEventRow): Promise<Received> {
    if (!store.dialect.isUniqueViolation(e)) throw e;
    const seen = await subscriptionEventsRepo.findRepeat(store.db, row.event_id, row.idempotency_key);
    if (!seen) throw e;
    return { answer: answerOf(seen), repeat: true };
  }

  /**
   * Decides and applies one event that asks for a workflow: `new` from the endpoint, `queued` from the
   * loop (then every write is fenced on the row still being queued).
   */
  async function apply(row: SubscriptionEventRow, mode: 'new' | 'queued'): Promise<Received> {
    const tenantId = row.tenant_id as string;
    const serviceSlug = row.service_slug as string;
    const kind = row.action as WorkflowKind;
    const settle = async (patch: SubscriptionEventPatch): Promise<Received> => {
      if (mode === 'new') return recordNew(row, patch);
      const final = { ...row, ...patch, updated_at: now() } as SubscriptionEventRow;
      if (await subscriptionEventsRepo.updateQueued(store.db, row.id, { ...patch, updated_at: final.updated_at })) logOutcome(final);
      return { answer: answerOf(final), repeat: false };
    };

    // Order per subscription: an event older than one already applied (or queued ahead) would undo it.
    if (row.subscription_id !== null) {
      const newer = await subscriptionEventsRepo.newestOccurred(
        store.db,
        row.subscription_id,
        mode === 'new' ? ['applied', 'queued'] : ['applied'],
        row.id,
      );
      if (newer && newer.occurred_at > row.occurred_at) {
        return settle({
          status: 'ignored',
          reason: `older than event ${newer.event_id} (occurred at ${new Date(newer.occurred_at).toISOString()}), which is already ${newer.status}`,
        });
      }
    }
    if (mode === 'new') {
      const head = await subscriptionEventsRepo.queueHead(store.db, tenantId, serviceSlug);
      if (head)
        return settle({
          status: 'queued',
          reason: `behind event ${head.event_id}, queued for ${serviceSlug} of tenant ${tenantId}`,
          blocked_by: head.blocked_by,
        });
    }
    const st = await loadServiceState(store.db, tenantId, serviceSlug);
    if (st.active) {
      const reason = `waiting for workflow ${st.active.id} (${st.active.kind}) to end`;
      if (mode === 'queued' && row.blocked_by === st.active.id) return { answer: answerOf(row), repeat: false };
      return settle({ status: 'queued', reason, blocked_by: st.active.id });
    }
    // What is already so needs nothing: a second activation, or a cancellation of what is not provisioned.
    if (kind === 'provision' && st.state === 'provisioned') {
      return settle({
        status: 'ignored',
        reason: `${serviceSlug} is already provisioned for tenant ${tenantId} (workflow ${st.current?.id}); a plan change arrives as subscription.changed`,
      });
    }
    if (kind === 'deprovision' && (st.state === 'not_provisioned' || st.state === 'provision_failed')) {
      return settle({
        status: 'ignored',
        reason: `${serviceSlug} is ${st.state.replace('_', ' ')} for tenant ${tenantId}; there is nothing to deprovision`,
      });
    }

    try {
      const parameters = fromJsonColumn<JsonObject>(row.parameters) ?? {};
      const r = await starter.start(
        {
          tenantId,
          serviceSlug,
          kind,
          parameters,
          idempotencyKey: null,
          actor: `scaicontrol:${row.source ?? 'events'}`,
          reason: `${row.event_type} ${row.event_id}`,
        },
        {
          within: async (tx, workflowId) => {
            const patch = { status: 'applied', reason: null, blocked_by: null, workflow_id: workflowId, updated_at: now() };
            if (mode === 'new') await subscriptionEventsRepo.record(tx, { ...row, ...patch });
            else if (!(await subscriptionEventsRepo.updateQueued(tx, row.id, patch))) throw new ClaimLost();
          },
        },
      );
      const final = { ...row, status: 'applied', reason: null, blocked_by: null, workflow_id: r.workflowId };
      logOutcome(final);
      return { answer: answerOf(final), repeat: false };
    } catch (e) {
      if (e instanceof ClaimLost) return { answer: answerOf(row), repeat: false };
      if (e instanceof ActiveWorkflowConflict) {
        return settle({
          status: 'queued',
          reason: `waiting for workflow ${e.activeWorkflowId ?? '(unknown)'} to end`,
          blocked_by: e.activeWorkflowId,
        });
      }
      // A refusal that a resend cannot change (unknown service, no update steps, bad parameters): rejected, with why.
      if (e instanceof ProvisionerError && ['conflict', 'not_found', 'validation_error'].includes(e.code)) {
        const result = await settle({ status: 'rejected', reason: e.message });
        if (mode === 'new' && !result.repeat) throw e;
        return result;
      }
      if (mode === 'new') return repeatAfterRace(e, row);
      throw e;
    }
  }

  function logOutcome(row: SubscriptionEventRow) {
    const fields = {
      event_id: row.event_id,
      event_type: row.event_type,
      tenant_id: row.tenant_id,
      service_slug: row.service_slug,
      workflow_id: row.workflow_id,
      reason: row.reason,
    };
    if (row.status === 'rejected') log.warn(fields, 'subscription event rejected');
    else log.info(fields, `subscription event ${row.status}`);
  }

  /** One pass over the queue: per tenant × service, apply queued events in order until one has to wait. */
  async function applyQueued(): Promise<number> {
    let done = 0;
    for (const pair of await subscriptionEventsRepo.queuedPairs(store.db, 100)) {
      for (let i = 0; i < 100; i++) {
        const head = await subscriptionEventsRepo.queueHead(store.db, pair.tenant_id, pair.service_slug);
        if (!head) break;
        const r = await apply(head, 'queued');
        const after = await subscriptionEventsRepo.get(store.db, head.id);
        if (!after || after.status === 'queued') break;
        if (r.answer.status !== 'queued') done++;
      }
    }
    return done;
  }

  // ---- the queue loop ----
  const intervalMs = Math.max(deps.pollIntervalMs ?? 1000, MIN_GAP_MS * 2);
  let stopping: AbortController | null = null;
  let running: Promise<void> | null = null;
  let kick: (() => void) | null = null;
  let kicked = false;
  let unsubscribe: (() => void) | null = null;

  function start() {
    if (running || !enabled) return;
    const stop = (stopping = new AbortController());
    // A workflow's end is a step's end: the 'steps' wake-up is the earliest hint that a blocker is gone.
    unsubscribe = store.dialect.wakeups().subscribe('steps', () => {
      if (kick) kick();
      else kicked = true;
    });
    running = (async () => {
      while (!stop.signal.aborted) {
        kicked = false;
        try {
          await applyQueued();
        } catch (e) {
          log.warn({ err: toError(e) }, 'applying queued subscription events failed; retrying at the next pass');
        }
        if (stop.signal.aborted) break;
        // Wake-ups come with every step on a busy system: at most one pass per MIN_GAP_MS, however many arrive.
        await new Promise<void>((resolve) => {
          const onAbort = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            stop.signal.removeEventListener('abort', onAbort);
            resolve();
          }, MIN_GAP_MS);
          stop.signal.addEventListener('abort', onAbort, { once: true });
        });
        if (stop.signal.aborted || kicked) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            kick = null;
            resolve();
          }, intervalMs - MIN_GAP_MS);
          kick = () => {
            clearTimeout(timer);
            kick = null;
            resolve();
          };
        });
      }
    })();
  }

  async function stopLoop() {
    stopping?.abort();
    unsubscribe?.();
    kick?.();
    await running;
    running = null;
  }

  async function list(q: { tenantId?: string; serviceSlug?: string; status?: string; limit: number; cursor?: string }) {
    const rows = await subscriptionEventsRepo.list(store.db, {
      tenantId: q.tenantId,
      serviceSlug: q.serviceSlug,
      status: q.status,
      beforeId: q.cursor,
      limit: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    return { items: page.map(subscriptionEventView), nextCursor: more ? page[page.length - 1].id : null };
  }

  return { enabled, verify, receive, applyQueued, start, stop: stopLoop, list };
}

export type SubscriptionIntake = ReturnType<typeof createSubscriptionIntake>;

function answerOf(row: Pick<SubscriptionEventRow, 'event_id' | 'status' | 'workflow_id'>): SubscriptionEventAnswer {
  const status = row.status === 'rejected' ? 'ignored' : (row.status as Exclude<SubscriptionEventStatus, 'rejected'>);
  return { event_id: row.event_id, status, workflow_id: row.workflow_id };
}

export function subscriptionEventView(r: SubscriptionEventRow): SubscriptionEventResponse {
  return {
    id: r.id,
    event_id: r.event_id,
    event_type: r.event_type,
    event_version: r.event_version,
    occurred_at: new Date(r.occurred_at).toISOString(),
    source: r.source,
    idempotency_key: r.idempotency_key,
    subscription_id: r.subscription_id,
    tenant_id: r.tenant_id,
    service_slug: r.service_slug,
    action: r.action as SubscriptionEventResponse['action'],
    parameters: fromJsonColumn<JsonObject>(r.parameters),
    status: r.status as SubscriptionEventStatus,
    reason: r.reason,
    workflow_id: r.workflow_id,
    blocked_by: r.blocked_by,
    received_at: new Date(r.received_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
  };
}
