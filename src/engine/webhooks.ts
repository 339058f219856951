import type { Store } from '../store/store.js';
import { webhooksRepo, subscriptionTopics, type DeliveryRow, type DeliveryStatus, type SubscriptionRow } from '../store/webhooks-repo.js';
import { toJsonColumn } from '../store/columns.js';
import { Conflict, NotFound, ValidationFailed, type ValidationIssue } from '../domain/errors.js';
import { newSubscriptionId } from '../domain/ids.js';
import { iso } from '../domain/views.js';
import type { WebhookDeliveryResponse, WebhookSubscriptionResponse } from '../domain/webhook-views.js';
import type { CredentialCipher } from './credential-cipher.js';
import { OUTBOUND_TOPICS, checkTopicPatterns } from '../domain/webhook-topics.js';

/** Shortest accepted signing secret: 16 characters, so a guessed secret cannot forge signatures. */
export const WEBHOOK_SECRET_MIN_LENGTH = 16;

export interface NewSubscription {
  targetUrl: string;
  secret: string;
  topics: string[];
  actor: string | null;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  subscriptionId?: string;
  limit: number;
  cursor?: string;
}

/** The secret is sealed with the credentials key (rotation included); only the dispatcher opens it. */
export const sealSecret = (cipher: CredentialCipher, secret: string) => cipher.encrypt({ secret });
export function openSecret(cipher: CredentialCipher, stored: string): string {
  const v = cipher.decrypt(stored).secret;
  if (typeof v !== 'string') throw new Error('stored webhook secret is unreadable');
  return v;
}

export function subscriptionView(s: SubscriptionRow): WebhookSubscriptionResponse {
  return { id: s.id, target_url: s.target_url, topics: subscriptionTopics(s), created_at: new Date(Number(s.created_at)).toISOString() };
}

export function deliveryView(d: DeliveryRow): WebhookDeliveryResponse {
  return {
    id: d.id,
    subscription_id: d.subscription_id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status as DeliveryStatus,
    attempts: d.attempts,
    next_attempt_at: iso(d.next_attempt_at),
    last_attempt_at: iso(d.last_attempt_at),
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    created_at: new Date(Number(d.created_at)).toISOString(),
    delivered_at: iso(d.delivered_at),
  };
}

/** Operator side of DESIGN §9: subscriptions, the delivery list and redelivery. */
export function createWebhookAdmin(deps: { store: Store; cipher: CredentialCipher; clock?: () => number }) {
  const { store, cipher } = deps;
  const now = deps.clock ?? Date.now;

  async function createSubscription(req: NewSubscription): Promise<WebhookSubscriptionResponse> {
    const issues: ValidationIssue[] = [];
    const url = URL.canParse(req.targetUrl) ? new URL(req.targetUrl) : null;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      issues.push({
        loc: ['body', 'target_url'],
        msg: 'expected an absolute http(s) URL, e.g. https://hooks.example.com/provisioner',
        type: 'value_error',
      });
    }
    if (req.secret.length < WEBHOOK_SECRET_MIN_LENGTH) {
      issues.push({
        loc: ['body', 'secret'],
        msg: `expected at least ${WEBHOOK_SECRET_MIN_LENGTH} characters (e.g. openssl rand -hex 32)`,
        type: 'too_short',
      });
    }
    issues.push(...checkTopicPatterns(req.topics, OUTBOUND_TOPICS, ['body', 'topics']));
    if (issues.length > 0) throw new ValidationFailed(issues);
    const row: SubscriptionRow = {
      id: newSubscriptionId(),
      target_url: req.targetUrl,
      secret: sealSecret(cipher, req.secret),
      topics: toJsonColumn([...new Set(req.topics)]),
      created_at: now(),
      created_by: req.actor,
    };
    await webhooksRepo.insertSubscription(store.db, row);
    return subscriptionView(row);
  }

  async function listSubscriptions(): Promise<WebhookSubscriptionResponse[]> {
    return (await webhooksRepo.listSubscriptions(store.db)).map(subscriptionView);
  }

  async function deleteSubscription(id: string): Promise<void> {
    const deleted = await store.transaction((tx) => webhooksRepo.deleteSubscription(tx, id));
    if (!deleted) throw new NotFound(`webhook subscription ${id} not found; GET /api/v1/admin/webhook-subscriptions lists them`);
  }

  async function listDeliveries(q: DeliveryQuery): Promise<{ items: WebhookDeliveryResponse[]; nextCursor: string | null }> {
    const rows = await webhooksRepo.listDeliveries(store.db, {
      status: q.status,
      subscriptionId: q.subscriptionId,
      beforeId: q.cursor,
      limit: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    return { items: page.map(deliveryView), nextCursor: more ? page[page.length - 1].id : null };
  }

  /** Dead (or delivered, to replay) → pending and due now, with the retry schedule starting over. */
  async function redeliver(id: string): Promise<WebhookDeliveryResponse> {
    const row = await webhooksRepo.redeliver(store.db, id, now());
    if (!row) {
      const existing = await webhooksRepo.getDelivery(store.db, id);
      if (!existing) throw new NotFound(`webhook delivery ${id} not found; GET /api/v1/admin/webhook-deliveries lists them`);
      throw new Conflict(
        `webhook delivery ${id} is already pending; it will be attempted at ${iso(existing.next_attempt_at) ?? 'its next attempt'}`,
      );
    }
    store.dialect.wakeups().notify('webhooks');
    return deliveryView(row);
  }

  return { createSubscription, listSubscriptions, deleteSubscription, listDeliveries, redeliver };
}

export type WebhookAdmin = ReturnType<typeof createWebhookAdmin>;
