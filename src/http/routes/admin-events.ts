import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { SubscriptionIntake } from '../../engine/subscription-intake.js';
import { isAdmin } from '../../domain/caller.js';
import { SubscriptionEventResponse, SubscriptionEventStatuses } from '../../domain/subscription-event.js';
import { page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { Defaulted, errorResponses, listEnvelope } from '../schemas/common.js';

export const SubscriptionEventListQuery = Type.Object(
  {
    tenant_id: Type.Optional(Type.String({ maxLength: 200 })),
    service_slug: Type.Optional(Type.String({ maxLength: 63 })),
    status: Type.Optional(Type.Enum(SubscriptionEventStatuses)),
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^sev_[0-9A-Z]{26}$' })),
  },
  { additionalProperties: false },
);

/** Operators see every subscription event and what became of it (issue 14). */
export function adminEventsRoutes({ intake }: { intake: SubscriptionIntake }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addHook('preHandler', requireCaller(isAdmin, 'admin endpoints need permission admin:provisioning or role super_admin'));

    app.get(
      '/admin/events/subscriptions',
      {
        schema: {
          tags: ['Admin'],
          summary: "ScaiControl's subscription events, newest first, each with its status and reason",
          querystring: SubscriptionEventListQuery,
          response: { 200: listEnvelope(SubscriptionEventResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await intake.list({
          tenantId: q.tenant_id,
          serviceSlug: q.service_slug,
          status: q.status,
          limit: q.limit,
          cursor: q.cursor,
        });
        return page(req, r.items, { limit: q.limit, next_cursor: r.nextCursor });
      },
    );
  };
}
