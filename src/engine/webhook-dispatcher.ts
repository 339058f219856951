import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { webhooksRepo, type AttemptResult, type DeliveryFence, type DeliveryJob, type DeliveryRow } from '../store/webhooks-repo.js';
import { toError } from '../domain/errors.js';
import { ulid } from '../domain/ids.js';
import type { CredentialCipher } from './credential-cipher.js';
import { openSecret } from './webhooks.js';
import { createLeaseLoop } from './lease-loop.js';
import { postWebhook, WebhookTransportError } from './webhook-sender.js';

/** Observation points for metrics; the dispatcher works the same without them. */
export interface WebhookHooks {
  /** Once per event overall: called after the fan-out transaction that marked it dispatched committed. */
  onEvent?(topic: string, payload: string): void;
  /** Once per recorded attempt; `lost` when the lease had passed to another dispatcher. */
  onDelivery?(outcome: DeliveryOutcome, durationMs: number): void;
}
export type DeliveryOutcome = 'delivered' | 'retry' | 'dead' | 'lost';

export interface WebhookDispatcherDeps {
  store: Store;
  cipher: CredentialCipher;
  log: Logger;
  /** Seconds to wait after attempt 1, 2, …; after the last entry a failing delivery is dead (DESIGN §9). */
  retryScheduleS: readonly number[];
  clock?: () => number;
  /** Per attempt, response body included. Default 10 s. */
  fetchTimeoutMs?: number;
  /** Fallback poll when no wake-up arrives. Default 1 s. */
  pollIntervalMs?: number;
  /** A claim outlives the attempt's timeout by this much before another dispatcher may take the delivery. Default 15 s. */
  leaseGraceMs?: number;
  /** Deliveries in flight at once. Default 8. */
  concurrency?: number;
  hooks?: WebhookHooks;
}

export interface WebhookDispatcher {
  start(): void;
  /** Stops claiming, waits up to `graceMs` for attempts in flight, then aborts them and hands their deliveries back. */
  stop(graceMs?: number): Promise<void>;
  running(): number;
}

const FANOUT_BATCH = 100;
const ERROR_SNIPPET = 200;

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` (DESIGN §9). */
export function signWebhook(secret: string, timestampS: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}

/** DESIGN §9: 2xx or 409 → delivered; 5xx → retried; any other answer (4xx, an unfollowed redirect) → dead. */
export function classifyStatus(status: number): 'delivered' | 'retry' | 'dead' {
  if ((status >= 200 && status < 300) || status === 409) return 'delivered';
  return status >= 500 ? 'retry' : 'dead';
}

/**
 * Delivers outbound events (DESIGN §9) from the transactional outbox. One loop per process:
 * fan out undispatched outbox rows into deliveries (one transaction per batch, which also marks the
 * rows dispatched), claim due deliveries with a lease, POST each, and record the result fenced on the
 * lease. Delivery is at least once: a dispatcher that dies mid-attempt leaves a lease that expires,
 * and the delivery is attempted again; receivers deduplicate on `X-Provisioner-Event-Id`.
 *
 * Wake-ups: the loop runs on the 'webhooks' topic (every commit that wrote outbox rows announces it,
 * as do redeliveries, on any replica), and otherwise polls every `pollIntervalMs`. The poll is the
 * fallback for a wake-up that never arrived (a NOTIFY lost with its connection); an event therefore
 * leaves within one poll interval at worst, and nothing depends on a wake-up arriving.
 */
export function createWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const { store, cipher, log, hooks = {} } = deps;
  const now = deps.clock ?? Date.now;
  const schedule = deps.retryScheduleS;
  const fetchTimeoutMs = deps.fetchTimeoutMs ?? 10_000;
  const pollMs = deps.pollIntervalMs ?? 1000;
  const concurrency = deps.concurrency ?? 8;
  const leaseMs = fetchTimeoutMs + (deps.leaseGraceMs ?? 15_000);
  const dispatcherId = `d_${ulid()}`;
  let claimSeq = 0;

  const loop = createLeaseLoop<DeliveryJob>({
    log,
    what: 'webhook delivery',
    concurrency,
    pollIntervalMs: pollMs,
    now,
    // Only commits that wrote outbox rows (and redeliveries) announce work here; step transitions do not.
    wakeups: store.dialect.wakeups(),
    wakeOn: 'webhooks',
    claim: async (free) => {
      await fanOut();
      const claimed = await webhooksRepo.claimDue(store.db, {
        owner: `${dispatcherId}:${++claimSeq}`,
        limit: free,
        now: now(),
        leaseMs,
        lockClause: store.dialect.claimLockClause,
      });
      return { jobs: await webhooksRepo.jobsFor(store.db, claimed) };
    },
    run: (job, aborted) => attempt(job, aborted),
    key: (job) => job.delivery.id,
    nextDueAt: (since) => webhooksRepo.nextDueAfter(store.db, since),
  });

  /** Turns undispatched outbox rows into deliveries, a batch per transaction, until none are left. */
  async function fanOut() {
    for (;;) {
      const { events, deliveries } = await store.transaction((tx) =>
        webhooksRepo.fanOut(tx, { limit: FANOUT_BATCH, now: now(), lockClause: store.dialect.claimLockClause }),
      );
      for (const e of events) observe(() => hooks.onEvent?.(e.topic, e.payload));
      // Tells other replicas' dispatchers; here it only wakes this loop once more, which costs one extra pass.
      if (deliveries > 0) store.dialect.wakeups().notify('webhooks');
      if (events.length < FANOUT_BATCH) return;
    }
  }

  async function attempt(job: DeliveryJob, abortRuns: AbortSignal) {
    const d = job.delivery;
    const fence: DeliveryFence = { id: d.id, owner: d.lease_owner as string };
    const dlog = log.child({ delivery_id: d.id, event_id: d.event_id, subscription_id: d.subscription_id, attempt: d.attempts + 1 });
    const started = now();
    let result: AttemptResult;
    try {
      result = await post(job, d, started, abortRuns);
    } catch (e) {
      if (abortRuns.aborted) {
        await webhooksRepo.releaseFenced(store.db, fence).catch(() => undefined);
        return;
      }
      result = retryOrDead(d, describeFailure(e), null, now());
    }
    const recorded = await webhooksRepo.recordAttemptFenced(store.db, fence, result, now());
    const outcome: DeliveryOutcome = !recorded ? 'lost' : result.status === 'pending' ? 'retry' : result.status;
    observe(() => hooks.onDelivery?.(outcome, now() - started));
    const target = safeOrigin(job.targetUrl);
    if (outcome === 'lost') dlog.warn({ target }, 'webhook lease lost; attempt result discarded');
    else if (result.status === 'dead')
      dlog.warn({ target, error: result.error }, 'webhook delivery is dead; redeliver it once the receiver is fixed');
    else if (result.status === 'pending')
      dlog.info(
        { target, error: result.error, next_attempt_at: new Date(result.nextAttemptAt).toISOString() },
        'webhook attempt failed; will retry',
      );
    else dlog.debug({ target }, 'webhook delivered');
  }

  /** One POST. Throws only for transport failures (refused, reset, timeout); any HTTP answer is a result. */
  async function post(job: DeliveryJob, d: DeliveryRow, at: number, abortRuns: AbortSignal): Promise<AttemptResult> {
    let secret: string;
    try {
      secret = openSecret(cipher, job.secret);
    } catch (e) {
      return { status: 'dead', statusCode: null, error: `cannot open the subscription secret: ${toError(e).message}` };
    }
    const timestamp = Math.floor(at / 1000);
    // The stored payload is sent byte for byte, so the signature covers exactly what the receiver reads.
    const body = job.payload;
    const res = await postWebhook({
      targetUrl: job.targetUrl,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'provisioner-webhooks',
        'x-provisioner-signature': signWebhook(secret, timestamp, body),
        'x-provisioner-timestamp': String(timestamp),
        'x-provisioner-event-id': d.event_id,
        'x-provisioner-event-type': d.event_type,
      },
      signal: abortRuns,
      timeoutMs: fetchTimeoutMs,
    });
    const kind = classifyStatus(res.status);
    if (kind === 'delivered') return { status: 'delivered', statusCode: res.status };
    const text = res.text;
    const snippet = text.length > ERROR_SNIPPET ? `${text.slice(0, ERROR_SNIPPET)}…` : text;
    const error = `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed; point target_url at the final address)' : ''}${snippet ? `: ${snippet}` : ''}`;
    return kind === 'dead' ? { status: 'dead', statusCode: res.status, error } : retryOrDead(d, error, res.status, now());
  }

  function retryOrDead(d: DeliveryRow, error: string, statusCode: number | null, at: number): AttemptResult {
    const made = d.attempts + 1;
    if (made > schedule.length) {
      return { status: 'dead', statusCode, error: `${error} (gave up after ${made} attempts)` };
    }
    return { status: 'pending', statusCode, error, nextAttemptAt: at + Math.round(schedule[made - 1] * 1000) };
  }

  function describeFailure(e: unknown): string {
    const err = toError(e);
    if (err instanceof WebhookTransportError) return err.message;
    if (err.name === 'TimeoutError') return `no answer within ${fetchTimeoutMs} ms`;
    const cause = (err as { cause?: unknown }).cause;
    const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : null;
    return `request failed: ${code ?? (cause instanceof Error ? cause.message : err.message)}`;
  }

  function observe(fn: () => void) {
    try {
      fn();
    } catch (e) {
      log.warn({ err: toError(e) }, 'webhook hook threw');
    }
  }

  return { start: () => loop.start(), stop: (graceMs) => loop.stop(graceMs), running: () => loop.running() };
}

/** Logs name the receiver's origin only: a target URL may carry a token in its path or query. */
function safeOrigin(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : '(invalid url)';
}
