import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Runtime } from '../runtime.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { ProvisionerError, STATUS_BY_CODE, Unauthorized, Unavailable } from '../domain/errors.js';
import { createSessionManager, type UiSession } from './session.js';
import { safeNext, sendPage, type UiContext } from './ui-context.js';
import { APP_CSS } from './assets/app-css.js';
import { LIVE_JS } from './assets/live-js.js';
import { loginPage } from './pages/login-page.js';
import { messagePage } from './pages/message-page.js';
import { workflowRoutes } from './workflow-routes.js';
import { subscriptionEventRoutes } from './subscription-event-routes.js';

export interface UiDeps {
  runtime: Runtime;
  verifier: TokenVerifier;
}

// Only our own stylesheet and script run; inline script or style (an injection that slipped past the
// escaping) does not. No framing (clickjacking of the action buttons), forms post only to us.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const ASSETS = {
  'app.css': { body: APP_CSS, type: 'text/css; charset=utf-8' },
  'live.js': { body: LIVE_JS, type: 'text/javascript; charset=utf-8' },
} as const;
const assetVersion = (body: string) => createHash('sha256').update(body).digest('hex').slice(0, 12);

/** Page titles by status; the status of a domain error comes from the API's one table. */
const TITLES: Record<number, string> = {
  401: 'Sign in required',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible right now',
  503: 'Temporarily unavailable',
};

/**
 * The operator UI (DESIGN §10): server-rendered pages under /ui. Register at the root:
 * `app.register(uiPlugin({ runtime, verifier }))`. Everything stays inside this plugin's scope: the
 * form parser, security headers, error pages; the session guard wraps only the data routes.
 */
export function uiPlugin(deps: UiDeps): FastifyPluginAsync {
  return async (app) => {
    const sessions = createSessionManager({
      verifier: deps.verifier,
      secretKey: deps.runtime.config.secretKeys.current,
      secure: deps.runtime.config.publicUrl.startsWith('https:'),
    });
    const bySession = new WeakMap<FastifyRequest, UiSession>();
    const ctx: UiContext = {
      runtime: deps.runtime,
      sessions,
      assets: {
        css: `/ui/assets/app.css?v=${assetVersion(APP_CSS)}`,
        js: `/ui/assets/live.js?v=${assetVersion(LIVE_JS)}`,
      },
      sessionOf: (req) => bySession.get(req) ?? null,
      setSession: (req, s) => {
        bySession.set(req, s);
      },
    };

    if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
      app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });
    }

    app.addHook('onRequest', async (req, reply) => {
      // Browsers say where a request comes from; a form posted from another site is refused before
      // the CSRF token is even looked at (SameSite=Strict already keeps the cookie off it).
      const site = req.headers['sec-fetch-site'];
      if (req.method === 'POST' && site !== undefined && site !== 'same-origin' && site !== 'none') {
        return sendPage(
          reply,
          403,
          messagePage({ assets: ctx.assets, session: null, title: 'Not allowed', message: 'This form was sent from another site.' }),
        );
      }
    });
    app.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('x-frame-options', 'DENY');
      if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'same-origin');
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    app.setErrorHandler(async (err, req, reply) => {
      const session = ctx.sessionOf(req);
      if ((err instanceof ProvisionerError && STATUS_BY_CODE[err.code] < 500) || err instanceof Unavailable) {
        const status = STATUS_BY_CODE[err.code];
        return sendPage(
          reply,
          status,
          messagePage({ assets: ctx.assets, session, title: TITLES[status] ?? 'Not possible', message: err.message }),
        );
      }
      const status = typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500;
      if (status >= 400 && status < 500) {
        return sendPage(
          reply,
          status,
          messagePage({
            assets: ctx.assets,
            session,
            title: 'Bad request',
            message: 'The request was not understood; go back and try again.',
          }),
        );
      }
      req.log.error({ err }, 'ui page failed');
      return sendPage(
        reply,
        500,
        messagePage({
          assets: ctx.assets,
          session,
          title: 'Something went wrong',
          message: `The page could not be built (request ${req.id}). Try again; if it persists, the server log has the details.`,
        }),
      );
    });

    for (const [name, asset] of Object.entries(ASSETS)) {
      app.get(`/ui/assets/${name}`, async (req, reply) => {
        // Versioned URLs never change content; an unversioned one is cached briefly.
        const versioned = (req.query as Record<string, unknown>).v === assetVersion(asset.body);
        reply.header('cache-control', versioned ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
        return reply.type(asset.type).send(asset.body);
      });
    }

    app.get('/ui', async (_req, reply) => reply.redirect('/ui/workflows', 303));
    app.get('/ui/', async (_req, reply) => reply.redirect('/ui/workflows', 303));
    loginRoutes(app, ctx);
    await app.register(workflowRoutes, ctx);
    await app.register(subscriptionEventRoutes, ctx);
  };
}

/** Sec-Fetch-Site says cross-site, or Origin names another host than the one asked. */
function crossSite(req: FastifyRequest): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === '') return false;
  if (origin === 'null' || !URL.canParse(origin)) return true;
  const host = req.headers.host;
  return !host || !URL.canParse(`http://${host}`) || new URL(origin).hostname !== new URL(`http://${host}`).hostname;
}

function loginRoutes(app: FastifyInstance, ctx: UiContext): void {
  async function signIn(reply: FastifyReply, token: unknown, next: unknown) {
    const back = safeNext(next);
    if (typeof token !== 'string' || token.trim() === '') {
      return sendPage(reply, 400, loginPage({ assets: ctx.assets, next: back, problem: 'Paste a token to sign in.' }));
    }
    try {
      const { cookie } = await ctx.sessions.login(token);
      return reply.header('set-cookie', cookie).redirect(back ?? '/ui/workflows', 303);
    } catch (e) {
      if (!(e instanceof Unauthorized)) throw e;
      return sendPage(reply, 401, loginPage({ assets: ctx.assets, next: back, problem: `This token was not accepted: ${e.message}.` }));
    }
  }

  // The token is taken by POST only (issue 11 finding 8): a sign-in link could log a victim into the
  // attacker's session (login CSRF), and a URL leaks into history, logs and Referer. GET shows the form;
  // logLevel warn keeps an old-style ?token= link out of the request log.
  app.get<{ Querystring: { token?: string; next?: string } }>('/ui/login', { logLevel: 'warn' }, async (req, reply) => {
    reply.header('referrer-policy', 'no-referrer');
    const problem =
      req.query.token !== undefined
        ? 'Tokens are not accepted in the URL any more; paste it below instead (and treat the one in that link as exposed).'
        : null;
    return sendPage(reply, problem ? 400 : 200, loginPage({ assets: ctx.assets, next: safeNext(req.query.next), problem }));
  });
  app.post<{ Body: Record<string, string> | undefined }>('/ui/login', async (req, reply) => {
    // A form on another site cannot sign a visitor in: browsers say where a POST came from.
    if (crossSite(req)) {
      return sendPage(
        reply,
        403,
        loginPage({ assets: ctx.assets, next: null, problem: "Sign-in requests must come from this site's own sign-in page." }),
      );
    }
    return signIn(reply, req.body?.token, req.body?.next);
  });

  const signedOut = (reply: FastifyReply) => reply.header('set-cookie', ctx.sessions.logoutCookie()).redirect('/ui/login', 303);
  // GET is a convenience link (signing someone out is a nuisance at worst); the button POSTs with the
  // session's CSRF token, which is checked whenever there is a session to end.
  app.get('/ui/logout', async (_req, reply) => signedOut(reply));
  app.post<{ Body: Record<string, string> | undefined }>('/ui/logout', async (req, reply) => {
    const session = await ctx.sessions.resolve(req.headers.cookie);
    if (session && !ctx.sessions.csrfValid(session, req.body?.csrf)) {
      return sendPage(
        reply,
        403,
        messagePage({ assets: ctx.assets, session, title: 'Form expired', message: 'Reload the page and sign out again.' }),
      );
    }
    return signedOut(reply);
  });
}
