import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from './store/store.js';
import { stepsRepo } from './store/steps-repo.js';
import { webhooksRepo } from './store/webhooks-repo.js';
import type { ExecutorHooks } from './engine/executor.js';
import { CALLBACK_PATH, type CallbackDeps } from './engine/callbacks.js';
import type { WebhookHooks } from './engine/webhook-dispatcher.js';

/**
 * Everything /metrics shows (issue 7 §1), on a registry of its own (never prom-client's global one, so
 * several runtimes in one process, as in tests, do not collide). Counters are fed by the engine's
 * hooks; gauges that describe the database are read from it when scraped.
 */
export interface Metrics {
  readonly registry: Registry;
  /** By service and event: started, completed, failed, rolled_back, cancelled. Counted as the outbox is fanned out. */
  readonly workflows: Counter<'service' | 'event'>;
  readonly stepAttempts: Counter<'type' | 'outcome'>;
  readonly stepAttemptDuration: Histogram<'type' | 'outcome'>;
  readonly stepLeaseExpiries: Counter;
  readonly callbacks: Counter<'outcome'>;
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly executorHooks: ExecutorHooks;
  readonly webhookHooks: WebhookHooks;
  readonly onCallback: NonNullable<CallbackDeps['onOutcome']>;
  /** For the app's onResponse hook: `routeUrl` is the route pattern (`req.routeOptions.url`), never the raw path. */
  observeHttp(method: string, routeUrl: string | undefined, status: number, seconds: number): void;
}

export interface MetricsOptions {
  /** Source of the database gauges (due steps, oldest due step, webhook backlog); without it they are absent. */
  store?: Store;
  clock?: () => number;
  /** process_* and nodejs_* metrics. Default true. */
  processMetrics?: boolean;
}

const WORKFLOW_TOPIC = /^provisioning\.workflow\.([a-z_]+)$/;

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const now = opts.clock ?? Date.now;
  const registers = [registry];
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const workflows = new Counter({
    name: 'provisioner_workflows_total',
    help: 'Workflow lifecycle events by service and kind (provision, deprovision…): started, completed, failed, rolled_back, cancelled',
    labelNames: ['service', 'kind', 'event'] as const,
    registers,
  });
  const stepAttempts = new Counter({
    name: 'provisioner_step_attempts_total',
    help: 'Step attempts (and due polls, expired waits, compensations) by step type and outcome: completed, waiting, retry, failed, or lost (lease expired, outcome discarded)',
    labelNames: ['type', 'outcome'] as const,
    registers,
  });
  const stepAttemptDuration = new Histogram({
    name: 'provisioner_step_attempt_duration_seconds',
    help: 'Time from claim to recorded outcome of one step attempt',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const stepLeaseExpiries = new Counter({
    name: 'provisioner_step_lease_expiries_total',
    help: 'Attempts whose lease expired before their outcome was recorded; the outcome was discarded and the step runs again',
    registers,
  });
  const callbacks = new Counter({
    name: 'provisioner_callbacks_total',
    help: 'Service callbacks by outcome: accepted, duplicate, heartbeat, early, rejected',
    labelNames: ['outcome'] as const,
    registers,
  });
  const webhookDeliveries = new Counter({
    name: 'provisioner_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, retry, dead, lost',
    labelNames: ['outcome'] as const,
    registers,
  });
  const httpRequestDuration = new Histogram({
    name: 'provisioner_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  if (opts.store) {
    const store = opts.store;
    // A scrape reads the database once, however many gauges it fills: prom-client calls every collect()
    // synchronously at the start of a scrape, so they all join the query in flight, which is then dropped.
    let inFlight: Promise<Snapshot | null> | null = null;
    const snapshot = (): Promise<Snapshot | null> => {
      if (!inFlight) {
        const at = now();
        // A database that cannot answer leaves these gauges out of this scrape rather than failing /metrics.
        inFlight = Promise.all([stepsRepo.dueSummary(store.db, at), webhooksRepo.summary(store.db)])
          .then(
            ([due, hooks]) => ({ at, due, hooks }),
            () => null,
          )
          .finally(() => {
            inFlight = null;
          });
      }
      return inFlight;
    };
    new Gauge({
      name: 'provisioner_steps_due',
      help: 'Steps due now and not held by any worker',
      registers,
      async collect() {
        const s = await snapshot();
        if (s) this.set(s.due.due);
        else this.reset();
      },
    });
    new Gauge({
      name: 'provisioner_oldest_due_step_age_seconds',
      help: 'How long the oldest due step has waited for a worker (0 when none is due)',
      registers,
      async collect() {
        const s = await snapshot();
        if (!s) {
          this.reset();
          return;
        }
        this.set(s.due.oldestDueAt === null ? 0 : Math.max(0, (s.at - s.due.oldestDueAt) / 1000));
      },
    });
    new Gauge({
      name: 'provisioner_webhook_deliveries_backlog',
      help: 'Webhook deliveries waiting for an attempt (pending) or given up (dead)',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const s = await snapshot();
        this.reset();
        if (s) {
          this.set({ status: 'pending' }, s.hooks.byStatus.pending);
          this.set({ status: 'dead' }, s.hooks.byStatus.dead);
        }
      },
    });
    new Gauge({
      name: 'provisioner_outbox_backlog',
      help: 'Events committed but not yet fanned out to webhook subscriptions',
      registers,
      async collect() {
        const s = await snapshot();
        if (s) this.set(s.hooks.outboxBacklog);
        else this.reset();
      },
    });
  }

  return {
    registry,
    workflows,
    stepAttempts,
    stepAttemptDuration,
    stepLeaseExpiries,
    callbacks,
    webhookDeliveries,
    httpRequestDuration,
    executorHooks: {
      onAttempt(type, outcome, durationMs) {
        stepAttempts.inc({ type, outcome });
        stepAttemptDuration.observe({ type, outcome }, durationMs / 1000);
      },
      onLeaseLost() {
        stepLeaseExpiries.inc();
      },
    },
    webhookHooks: {
      onEvent(topic, payload) {
        const m = WORKFLOW_TOPIC.exec(topic);
        if (m) workflows.inc({ ...workflowLabels(payload), event: m[1] });
      },
      onDelivery(outcome) {
        webhookDeliveries.inc({ outcome });
      },
    },
    onCallback(outcome) {
      callbacks.inc({ outcome });
    },
    observeHttp(method, routeUrl, status, seconds) {
      // Unmatched paths (404s, scanners) share one label so they cannot blow up the series count.
      httpRequestDuration.observe({ method, route: routeUrl ?? 'unmatched', status: String(status) }, seconds);
      // A callback refused by request validation never reaches the engine, which counts the other refusals.
      if (routeUrl === CALLBACK_PATH && status === 422) callbacks.inc({ outcome: 'rejected' });
    },
  };
}

interface Snapshot {
  at: number;
  due: { due: number; oldestDueAt: number | null };
  hooks: Awaited<ReturnType<typeof webhooksRepo.summary>>;
}

function workflowLabels(payload: string): { service: string; kind: string } {
  try {
    const wf = (JSON.parse(payload) as { data?: { workflow?: { service_slug?: unknown; kind?: unknown } } }).data?.workflow;
    return {
      service: typeof wf?.service_slug === 'string' ? wf.service_slug : 'unknown',
      kind: typeof wf?.kind === 'string' ? wf.kind : 'unknown',
    };
  } catch {
    return { service: 'unknown', kind: 'unknown' }; // the outbox is ours; a payload that does not parse is still one event to count
  }
}
