import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Store } from '../../store/store.js';
import type { CredentialCipher } from '../../engine/credential-cipher.js';
import { createWebhookAdmin } from '../../engine/webhooks.js';
import { OPEN_POLICY, urlRefusal } from '../../engine/outbound-policy.js';
import type { NetworkPolicy } from '../../domain/network-policy.js';
import { ValidationFailed, type ValidationIssue } from '../../domain/errors.js';
import { isAdmin } from '../../domain/caller.js';
import { WebhookDeliveryResponse, WebhookSubscriptionResponse } from '../../domain/webhook-views.js';
import { ok, page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import { CreateWebhookSubscriptionRequest, DeliveryIdParams, SubscriptionIdParams, WebhookDeliveryListQuery } from '../schemas/webhooks.js';

const tags = ['Webhooks'];
/** A subscription is a URL, a secret and a few topics: 64 KiB is generous. */
const SUBSCRIPTION_BODY_LIMIT = 64 * 1024;

export interface WebhookRouteDeps {
  store: Store;
  /** Seals subscription secrets at rest (the credentials key). */
  cipher: CredentialCipher;
  clock?: () => number;
  /** The outbound network policy target URLs are checked against (built-in refusals without it). */
  config?: { outbound: NetworkPolicy };
}

/**
 * Webhook subscriptions and deliveries (DESIGN §9), for operators. Mount under /api/v1 inside the
 * authenticated scope, with `webhookSchemas` added to the app's schemas.
 */
export function webhookRoutes(deps: WebhookRouteDeps): FastifyPluginAsyncTypebox {
  const webhooks = createWebhookAdmin(deps);
  return async (app) => {
    app.addHook('preHandler', requireCaller(isAdmin, 'webhook endpoints need permission admin:provisioning or role super_admin'));

    app.post(
      '/admin/webhook-subscriptions',
      {
        bodyLimit: SUBSCRIPTION_BODY_LIMIT,
        schema: {
          tags,
          operationId: 'createWebhookSubscription',
          summary: 'Subscribe a URL to outbound events',
          body: CreateWebhookSubscriptionRequest,
          response: { 201: envelope(WebhookSubscriptionResponse), ...errorResponses },
        },
      },
      async (req, reply) => {
        const b = req.body;
        await checkTarget(b.target_url, deps.config?.outbound ?? OPEN_POLICY);
        const created = await webhooks.createSubscription({
          targetUrl: b.target_url,
          secret: b.secret,
          topics: b.topics,
          actor: req.caller.sub,
        });
        reply.code(201);
        return ok(req, created);
      },
    );

    app.get(
      '/admin/webhook-subscriptions',
      {
        schema: {
          tags,
          operationId: 'listWebhookSubscriptions',
          summary: 'Webhook subscriptions (secrets are never returned)',
          response: { 200: listEnvelope(WebhookSubscriptionResponse), ...errorResponses },
        },
      },
      async (req) => {
        const items = await webhooks.listSubscriptions();
        return page(req, items, { limit: Math.max(1, items.length), next_cursor: null });
      },
    );

    app.delete(
      '/admin/webhook-subscriptions/:subscription_id',
      {
        schema: {
          tags,
          operationId: 'deleteWebhookSubscription',
          summary: 'Delete a subscription and its deliveries',
          params: SubscriptionIdParams,
          response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses },
        },
      },
      async (req, reply) => {
        await webhooks.deleteSubscription(req.params.subscription_id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/admin/webhook-deliveries',
      {
        schema: {
          tags,
          operationId: 'listWebhookDeliveries',
          summary: 'Webhook deliveries, newest first (status=dead lists the ones given up)',
          querystring: WebhookDeliveryListQuery,
          response: { 200: listEnvelope(WebhookDeliveryResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await webhooks.listDeliveries({ status: q.status, subscriptionId: q.subscription_id, limit: q.limit, cursor: q.cursor });
        return page(req, r.items, { limit: q.limit, next_cursor: r.nextCursor });
      },
    );

    app.post(
      '/admin/webhook-deliveries/:delivery_id/redeliver',
      {
        schema: {
          tags,
          operationId: 'redeliverWebhookDelivery',
          summary: 'Attempt a dead (or delivered) delivery again, now, with a fresh retry schedule',
          params: DeliveryIdParams,
          response: { 200: envelope(WebhookDeliveryResponse), ...errorResponses },
        },
      },
      async (req) => ok(req, await webhooks.redeliver(req.params.delivery_id)),
    );
  };
}

/**
 * A target with user:password@ could never deliver (we do not send it) and would put the password in logs;
 * link-local and metadata addresses are refused as for services (issue 11 findings 7 and 9).
 */
async function checkTarget(target: string, policy: NetworkPolicy): Promise<void> {
  if (!URL.canParse(target)) return; // the shape is createSubscription's to report
  const url = new URL(target);
  const issues: ValidationIssue[] = [];
  if (url.username !== '' || url.password !== '') {
    issues.push({
      loc: ['body', 'target_url'],
      msg: 'must not contain user:password@; authenticate the receiver by the X-Provisioner-Signature header instead',
      type: 'value_error.url.userinfo',
    });
  } else {
    const refused = await urlRefusal(target, policy);
    if (refused)
      issues.push({
        loc: ['body', 'target_url'],
        msg: `${refused}; point target_url at the receiver's own address`,
        type: 'value_error.url.policy',
      });
  }
  if (issues.length > 0) throw new ValidationFailed(issues);
}
