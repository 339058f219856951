import Type from 'typebox';
import { WebhookDeliveryResponse, WebhookDeliveryStatuses, WebhookSubscriptionResponse } from '../../domain/webhook-views.js';
import { WEBHOOK_SECRET_MIN_LENGTH } from '../../engine/webhooks.js';
import { OUTBOUND_TOPICS } from '../../domain/webhook-topics.js';
import { Defaulted } from './common.js';

/** Request shapes of the webhook admin endpoints (DESIGN §9); `$id` is the OpenAPI component name. */
export const CreateWebhookSubscriptionRequest = Type.Object(
  {
    target_url: Type.String({ minLength: 1, maxLength: 2048, description: 'absolute http(s) URL that receives the signed POSTs' }),
    secret: Type.String({
      minLength: WEBHOOK_SECRET_MIN_LENGTH,
      maxLength: 512,
      description: 'signing secret: X-Provisioner-Signature is sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">; never returned',
    }),
    topics: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      minItems: 1,
      maxItems: 50,
      description: `exact event types (${OUTBOUND_TOPICS.join(', ')}) or prefix globs such as provisioning.workflow.*`,
    }),
  },
  { $id: 'CreateWebhookSubscriptionRequest', additionalProperties: false },
);

export const WebhookDeliveryListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(WebhookDeliveryStatuses)),
    subscription_id: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^whd_[0-9A-Z]{26}$' })),
  },
  { additionalProperties: false },
);

export const SubscriptionIdParams = Type.Object({ subscription_id: Type.String({ minLength: 1, maxLength: 64 }) });
export const DeliveryIdParams = Type.Object({ delivery_id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Add to `AppDeps.schemas` wherever `webhookRoutes` is mounted. */
export const webhookSchemas = [WebhookSubscriptionResponse, WebhookDeliveryResponse, CreateWebhookSubscriptionRequest];
