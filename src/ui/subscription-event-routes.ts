import type { FastifyPluginAsync } from 'fastify';
import { safeNext, sendPage, type UiContext } from './ui-context.js';
import { loginPage } from './pages/login-page.js';
import { messagePage } from './pages/message-page.js';
import { subscriptionEventsPage, type EventFilters } from './pages/subscription-events-page.js';
import { SubscriptionEventStatuses } from '../domain/subscription-event.js';

const PAGE_SIZE = 50;

const text = (q: unknown, name: string, max: number): string | undefined => {
  const v = (q as Record<string, unknown> | undefined)?.[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.trim() !== '' && s.length <= max ? s.trim() : undefined;
};

/** `/ui/events` for operators; the same session rules as the workflow pages (no session → sign-in page). */
export const subscriptionEventRoutes: FastifyPluginAsync<UiContext> = async (app, ctx) => {
  app.get('/ui/events', async (req, reply) => {
    const session = await ctx.sessions.resolve(req.headers.cookie);
    if (!session) return sendPage(reply, 401, loginPage({ assets: ctx.assets, next: safeNext(req.url), problem: null }));
    ctx.setSession(req, session);
    if (!session.admin) {
      return sendPage(
        reply,
        403,
        messagePage({
          assets: ctx.assets,
          session,
          title: 'Not allowed',
          message: 'Subscription events are for operators (permission admin:provisioning).',
        }),
      );
    }
    const status = text(req.query, 'status', 20);
    const cursor = text(req.query, 'cursor', 40);
    const f: EventFilters = {
      status: status && (SubscriptionEventStatuses as readonly string[]).includes(status) ? status : undefined,
      service: text(req.query, 'service', 63),
      tenant: text(req.query, 'tenant', 200),
      cursor: cursor && /^sev_[0-9A-Z]{26}$/.test(cursor) ? cursor : undefined,
    };
    const r = await ctx.runtime.intake.list({
      tenantId: f.tenant,
      serviceSlug: f.service,
      status: f.status,
      limit: PAGE_SIZE,
      cursor: f.cursor,
    });
    return sendPage(
      reply,
      200,
      subscriptionEventsPage({ session, assets: ctx.assets, filters: f, items: r.items, nextCursor: r.nextCursor }),
    );
  });
};
