import Type, { type Static } from 'typebox';

/**
 * The public shapes of webhook subscriptions and deliveries (DESIGN §9), shared by the admin API and
 * the engine. `$id` is the OpenAPI component name. A subscription's secret never appears here.
 */
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

export const WebhookSubscriptionResponse = Type.Object(
  {
    id: Type.String(),
    target_url: Type.String(),
    topics: Type.Array(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'WebhookSubscriptionResponse' },
);
export type WebhookSubscriptionResponse = Static<typeof WebhookSubscriptionResponse>;

export const WebhookDeliveryStatuses = ['pending', 'delivered', 'dead'] as const;

export const WebhookDeliveryResponse = Type.Object(
  {
    id: Type.String(),
    subscription_id: Type.String(),
    event_id: Type.String(),
    event_type: Type.String(),
    status: Type.Enum(WebhookDeliveryStatuses),
    attempts: Type.Integer({ description: 'attempts made since the delivery was created or last redelivered' }),
    next_attempt_at: Time,
    last_attempt_at: Time,
    last_status_code: Type.Union([Type.Integer(), Type.Null()]),
    last_error: NullableString,
    created_at: Type.String({ format: 'date-time' }),
    delivered_at: Time,
  },
  { $id: 'WebhookDeliveryResponse' },
);
export type WebhookDeliveryResponse = Static<typeof WebhookDeliveryResponse>;
