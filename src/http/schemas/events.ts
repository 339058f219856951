import { SubscriptionEventAnswer, SubscriptionEventEnvelope, SubscriptionEventResponse } from '../../domain/subscription-event.js';

/** Component schemas of the subscription intake and its admin list. */
export const intakeSchemas = [SubscriptionEventEnvelope, SubscriptionEventAnswer, SubscriptionEventResponse];
