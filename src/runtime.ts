import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { openStore, type Store } from './store/store.js';
import { createCredentialCipher, type CredentialCipher } from './engine/credential-cipher.js';
import { createExecutor, type Executor, type ExecutorHooks } from './engine/executor.js';
import { createCallbackReceiver, type CallbackDeps } from './engine/callbacks.js';
import { createWorkflowStarter } from './engine/workflow-starter.js';
import { createWorkflowQueries } from './engine/workflow-queries.js';
import { createAdminActions } from './engine/admin-actions.js';
import { createCommitQueue, type CommitQueue } from './engine/commit-queue.js';
import { createRegistry } from './engine/registry.js';
import { REDACTED, redactSecrets } from './domain/secrets.js';
import { setOutboundDispatcher } from './engine/outbound.js';
import { checkStoredKeys } from './engine/key-rotation.js';
import { createPolicyDispatcher, urlRefusal } from './engine/outbound-policy.js';
import { createWebhookDispatcher, type WebhookDispatcher } from './engine/webhook-dispatcher.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createSubscriptionIntake, type SubscriptionIntake } from './engine/subscription-intake.js';
import { createTracer, noopTracer, type Tracer } from './tracing/tracer.js';

/** The composition root: every engine part wired to one store, as `serve`, the CLI and tests use it. */
export interface Runtime {
  config: Config;
  log: Logger;
  store: Store;
  cipher: CredentialCipher;
  registry: ReturnType<typeof createRegistry>;
  starter: ReturnType<typeof createWorkflowStarter>;
  callbacks: ReturnType<typeof createCallbackReceiver>;
  queries: ReturnType<typeof createWorkflowQueries>;
  admin: ReturnType<typeof createAdminActions>;
  /** Group commit of transitions, shared by the executor, callbacks and admin actions. */
  commits: CommitQueue;
  executor: Executor | null;
  /** Webhook delivery loop; created where the executor is, started next to it. */
  webhooks: WebhookDispatcher | null;
  metrics: Metrics;
  /** ScaiControl's subscription events; its queue loop is started next to the executor. */
  intake: SubscriptionIntake;
  /** Spans for API requests, step attempts and outbound calls; the no-op tracer unless OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracer: Tracer;
  close(graceMs?: number): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  clock?: () => number;
  executorHooks?: ExecutorHooks;
  onCallback?: CallbackDeps['onOutcome'];
  /** Start the executor (default: by role). */
  executor?: boolean;
  /** Create the webhook dispatcher (default: wherever the executor is). */
  webhooks?: boolean;
}

/**
 * Headers are redacted by path (they are serialized from the request after formatters run); every other
 * secret by the one recursive rule of src/domain/secrets.ts, applied to each log line's object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-provisioner-signature"]',
  'req.headers["x-scaicontrol-signature"]',
];

export const LOGGER_OPTIONS: pino.LoggerOptions = {
  redact: { paths: REDACT_PATHS, censor: REDACTED },
  formatters: { log: (obj) => redactSecrets(obj) as Record<string, unknown> },
};

/** `destination` is for tests; the default is stdout. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, ...LOGGER_OPTIONS }, destination);
}

export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger(config.logLevel);
  const store = openStore(config.database, (msg, err) => log.warn({ err }, msg));
  await store.migrate();
  const cipher = createCredentialCipher(config.secretKeys.current, config.secretKeys.old);
  try {
    await checkStoredKeys(store, cipher);
  } catch (e) {
    await store.close();
    throw e;
  }
  // Process-wide: every request to a service or webhook target connects through the policy (issue 11 item 7/9).
  setOutboundDispatcher(createPolicyDispatcher(config.outbound));
  const clock = opts.clock;
  const runExecutor = opts.executor ?? config.role !== 'api';
  const metrics = createMetrics({ store, clock });
  const tracer = await openTracer(config.tracing, log);
  const extra = opts.executorHooks;
  const hooks: ExecutorHooks = {
    onAttempt(...a) {
      metrics.executorHooks.onAttempt?.(...a);
      extra?.onAttempt?.(...a);
    },
    onLeaseLost() {
      metrics.executorHooks.onLeaseLost?.();
      extra?.onLeaseLost?.();
    },
  };
  // One queue per process: step outcomes, callbacks and operator actions share its transactions.
  const commits = createCommitQueue({ store, cipher, log: log.child({ component: 'commits' }), clock });
  const executor = runExecutor
    ? createExecutor({
        store,
        cipher,
        log: log.child({ component: 'executor' }),
        config: config.worker,
        publicUrl: config.publicUrl,
        clock,
        hooks,
        tracer,
        commits,
      })
    : null;
  const webhooks =
    (opts.webhooks ?? runExecutor)
      ? createWebhookDispatcher({
          store,
          cipher,
          log: log.child({ component: 'webhooks' }),
          retryScheduleS: config.webhookRetryScheduleS,
          clock,
          pollIntervalMs: config.worker.pollIntervalMs,
          leaseGraceMs: config.worker.leaseGraceMs,
          hooks: metrics.webhookHooks,
        })
      : null;
  const starter = createWorkflowStarter({ store, cipher, clock });
  const intake = createSubscriptionIntake({
    store,
    starter,
    config: config.intake,
    log: log.child({ component: 'intake' }),
    clock,
    pollIntervalMs: config.worker.pollIntervalMs,
  });
  return {
    config,
    log,
    store,
    cipher,
    intake,
    registry: createRegistry({ store, clock, cipher, checkBaseUrl: (url) => urlRefusal(url, config.outbound) }),
    starter,
    callbacks: createCallbackReceiver({
      store,
      cipher,
      commits,
      onOutcome: (o) => {
        metrics.onCallback(o);
        opts.onCallback?.(o);
      },
    }),
    queries: createWorkflowQueries({ store, cipher, clock }),
    admin: createAdminActions({ store, cipher, commits }),
    commits,
    executor,
    webhooks,
    metrics,
    tracer,
    async close(graceMs = 10_000) {
      await intake.stop();
      await executor?.stop(graceMs);
      await webhooks?.stop(graceMs);
      await commits.drain();
      await tracer.close();
      await store.close();
    },
  };
}

/** Off (no endpoint): the no-op tracer, and the exporter module is never even loaded. */
async function openTracer(config: Config['tracing'], log: Logger): Promise<Tracer> {
  if (config.endpoint === null) return noopTracer;
  const { createOtlpExporter } = await import('./tracing/otlp-exporter.js');
  const exporter = createOtlpExporter({
    endpoint: config.endpoint,
    headers: config.headers,
    serviceName: config.serviceName,
    log: log.child({ component: 'tracing' }),
  });
  log.info({ collector: config.endpoint, service_name: config.serviceName }, 'tracing on: exporting spans over OTLP/HTTP');
  return createTracer(exporter);
}
