import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ProvisionerError } from '../domain/errors.js';
import { WorkflowStatuses } from '../domain/model.js';
import { safeNext, sendPage, type UiContext } from './ui-context.js';
import type { UiSession } from './session.js';
import { REASON_MAX, uiAction, type UiActionName } from './actions.js';
import { loginPage } from './pages/login-page.js';
import { messagePage } from './pages/message-page.js';
import { workflowsPage, type ListFilters } from './pages/workflows-page.js';
import { liveEtag, renderLive, workflowPage } from './pages/workflow-page.js';
import { confirmPage } from './pages/confirm-page.js';

const PAGE_SIZE = 25;
/** Polled by the live script: without a session it answers a bare 401, not the sign-in page. */
const FRAGMENT_ROUTE = '/ui/workflows/:id/fragment';
const EVENTS_SHOWN = 300;
const EVENTS_PAGE = 500;
/** Polls are summarised, so real workflows stay far below this; beyond it the page says "more than". */
const EVENTS_PAGES = 4;

type Query = Record<string, string | string[] | undefined>;
type IdParams = { id: string };
type ActionParams = { id: string; action: string };

/** The first value of a query or form field, trimmed; undefined when absent or empty. */
function field(source: unknown, name: string): string | undefined {
  const v = (source as Record<string, unknown> | undefined)?.[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
}

/**
 * Pages that show data. The guard runs before each of them: without a valid session the answer is
 * the sign-in page (401), never data. Reads go through runtime.queries with the session's tenant
 * scope, so another tenant's workflow is a 404 exactly as in the API.
 */
export const workflowRoutes: FastifyPluginAsync<UiContext> = async (app, ctx) => {
  const { runtime } = ctx;

  app.addHook('preHandler', async (req, reply) => {
    const session = await ctx.sessions.resolve(req.headers.cookie);
    if (session) {
      ctx.setSession(req, session);
      return;
    }
    if (req.routeOptions.url === FRAGMENT_ROUTE) {
      return reply.code(401).type('text/plain; charset=utf-8').send('session ended; reload the page to sign in');
    }
    const problem = req.headers.cookie?.includes('prov_ui_session=') ? 'Your session has ended; sign in again.' : null;
    const next = req.method === 'GET' ? safeNext(req.url) : null;
    return sendPage(reply.header('set-cookie', ctx.sessions.logoutCookie()), 401, loginPage({ assets: ctx.assets, next, problem }));
  });

  const session = (req: FastifyRequest): UiSession => {
    const s = ctx.sessionOf(req);
    if (!s) throw new Error('ui: route reached without a session; the guard must run first');
    return s;
  };

  app.get<{ Querystring: Query }>('/ui/workflows', async (req, reply) => {
    const s = session(req);
    const f = listFilters(req.query, s);
    const tenantId = s.tenantScope ?? f.tenant;
    const [page, counts, services] = await Promise.all([
      runtime.queries.list({ tenantId, status: f.status, serviceSlug: f.service, limit: PAGE_SIZE, cursor: f.cursor }),
      runtime.queries.counts({ tenantId, serviceSlug: f.service }),
      runtime.registry.list(),
    ]);
    return sendPage(
      reply,
      200,
      workflowsPage({
        session: s,
        assets: ctx.assets,
        filters: f,
        items: page.items,
        counts,
        nextCursor: page.nextCursor,
        services: services.map((x) => x.slug),
      }),
    );
  });

  async function liveData(req: FastifyRequest<{ Params: IdParams }>) {
    const s = session(req);
    const wf = await runtime.queries.detail(req.params.id, s.tenantScope);
    const all = [];
    let after: string | undefined;
    let more = false;
    for (let i = 0; i < EVENTS_PAGES; i++) {
      const r = await runtime.queries.events(wf.id, s.tenantScope, after, EVENTS_PAGE);
      all.push(...r.items);
      more = r.nextCursor !== null;
      if (!more) break;
      after = r.nextCursor ?? undefined;
    }
    const events = all.slice(-EVENTS_SHOWN).reverse();
    return { session: s, wf, events, eventsTotal: all.length, eventsMore: more };
  }

  app.get<{ Params: IdParams; Querystring: Query }>('/ui/workflows/:id', async (req, reply) => {
    const data = await liveData(req);
    const done = field(req.query, 'done');
    return sendPage(reply, 200, workflowPage({ ...data, assets: ctx.assets, done: done ? (uiAction(done)?.name ?? null) : null }));
  });

  // An open page polls this every second: an unchanged workflow costs one row read, never its history.
  app.get<{ Params: IdParams }>(FRAGMENT_ROUTE, async (req, reply) => {
    const s = session(req);
    const etag = liveEtag(await runtime.queries.version(req.params.id, s.tenantScope), s.tenantScope);
    reply.header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(renderLive(await liveData(req)).html.value);
  });

  /** Loads what an action page needs; a tenant user may see the workflow but never act on it. */
  async function actionTarget(req: FastifyRequest<{ Params: ActionParams }>, stepName: string | undefined) {
    const s = session(req);
    const wf = await runtime.queries.detail(req.params.id, s.tenantScope);
    const found = uiAction(req.params.action);
    if (!found) return { problem: 'not_found' as const, s };
    if (!s.admin) return { problem: 'forbidden' as const, s };
    const step = found.action.perStep ? (wf.steps.find((x) => x.name === stepName) ?? null) : null;
    if (found.action.perStep && !step) return { problem: 'no_step' as const, s };
    return { problem: null, s, wf, name: found.name, action: found.action, step };
  }

  function refuse(reply: FastifyReply, s: UiSession, problem: 'not_found' | 'forbidden' | 'no_step') {
    const pages = {
      not_found: { status: 404, title: 'Not found', message: 'There is no such action.' },
      forbidden: { status: 403, title: 'Not allowed', message: 'Only operators (admin:provisioning or super_admin) can change workflows.' },
      no_step: { status: 404, title: 'Not found', message: 'This workflow has no such step.' },
    };
    const p = pages[problem];
    return sendPage(reply, p.status, messagePage({ assets: ctx.assets, session: s, title: p.title, message: p.message }));
  }

  app.get<{ Params: ActionParams; Querystring: Query }>('/ui/workflows/:id/actions/:action', async (req, reply) => {
    const t = await actionTarget(req, field(req.query, 'step'));
    if (t.problem !== null) return refuse(reply, t.s, t.problem);
    return sendPage(reply, 200, confirmPage({ session: t.s, assets: ctx.assets, wf: t.wf, name: t.name, step: t.step }));
  });

  app.post<{ Params: ActionParams; Body: Record<string, string> | undefined }>('/ui/workflows/:id/actions/:action', async (req, reply) => {
    const s = session(req);
    if (!ctx.sessions.csrfValid(s, req.body?.csrf)) {
      return sendPage(
        reply,
        403,
        messagePage({
          assets: ctx.assets,
          session: s,
          title: 'Form expired',
          message: 'This form is not from your current session (or it expired). Go back, reload the workflow and try again.',
        }),
      );
    }
    const t = await actionTarget(req, field(req.body, 'step'));
    if (t.problem !== null) return refuse(reply, t.s, t.problem);
    const reason = field(req.body, 'reason');
    const compensate = field(req.body, 'compensate') === '1';
    const again = (status: number, problem: string) =>
      sendPage(
        reply,
        status,
        confirmPage({ session: s, assets: ctx.assets, wf: t.wf, name: t.name, step: t.step, reason: reason ?? '', compensate, problem }),
      );
    if (!reason) return again(422, 'Give a reason: it is recorded in the audit history.');
    if (reason.length > REASON_MAX) return again(422, `Keep the reason under ${REASON_MAX} characters.`);
    try {
      await t.action.run(runtime, t.wf.id, { step: t.step?.name ?? null, compensate }, { actor: s.caller.sub, reason });
    } catch (e) {
      if (e instanceof ProvisionerError && (e.code === 'conflict' || e.code === 'not_found')) {
        return again(e.code === 'conflict' ? 409 : 404, e.message);
      }
      throw e;
    }
    return reply.redirect(`/ui/workflows/${encodeURIComponent(t.wf.id)}?done=${t.name satisfies UiActionName}`, 303);
  });

  // Any other /ui/ address: a page, not Fastify's JSON 404 (and, like every page here, only with a session).
  app.get('/ui/*', async (req, reply) =>
    sendPage(
      reply,
      404,
      messagePage({ assets: ctx.assets, session: session(req), title: 'Not found', message: 'There is no page at this address.' }),
    ),
  );
};

function listFilters(query: Query, s: UiSession): ListFilters {
  const status = field(query, 'status');
  const service = field(query, 'service');
  const tenant = field(query, 'tenant');
  const cursor = field(query, 'cursor');
  return {
    status: status && (WorkflowStatuses as readonly string[]).includes(status) ? status : undefined,
    service: service && /^[a-z0-9][a-z0-9-]{0,62}$/.test(service) ? service : undefined,
    tenant: s.admin && tenant && tenant.length <= 200 ? tenant : undefined,
    cursor: cursor && /^wf_[0-9A-Za-z]{1,64}$/.test(cursor) ? cursor : undefined,
  };
}
