import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { uiPlugin } from '../../src/ui/plugin.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { startTestRuntime } from '../support/runtime.js';
import {
  startUiServer,
  tokenFor,
  adminClaims,
  tenantClaims,
  startWorkflow,
  waitForWorkflow,
  stepStatus,
  type UiServer,
} from './ui-server.js';
import { storageManifest, quickManifest, simulateServices } from './fixtures.js';

const setCookie = (res: { headers: Record<string, unknown> }) => String(res.headers['set-cookie'] ?? '');
const cookiePair = (header: string) => header.split(';')[0];

describe('the UI routes', () => {
  let s: UiServer;
  let admin: string; // Cookie header values
  let acme: string;
  let globex: string;
  let storageWf: string;

  const postLogin = (token: string, next?: string, headers: Record<string, string> = {}) =>
    s.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams({ token, ...(next === undefined ? {} : { next }) }).toString(),
    });
  async function signIn(claims: Parameters<typeof tokenFor>[0]): Promise<string> {
    const res = await postLogin(await tokenFor(claims));
    assert.equal(res.statusCode, 303);
    return cookiePair(setCookie(res));
  }
  const get = (url: string, cookie?: string, headers: Record<string, string> = {}) =>
    s.app.inject({ method: 'GET', url, headers: { ...(cookie ? { cookie } : {}), ...headers } });
  const post = (url: string, cookie: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    s.app.inject({
      method: 'POST',
      url,
      payload: new URLSearchParams(form).toString(),
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
  const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? assert.fail('no csrf field on the page');

  before(async () => {
    s = await startUiServer();
    simulateServices(s.sim);
    await s.rt.registry.register(storageManifest(s.sim.url));
    await s.rt.registry.register(quickManifest(s.sim.url));
    storageWf = await startWorkflow(s.rt, 'acme', 'storage');
    await waitForWorkflow(s.rt, storageWf, 'the bucket wait', (d) => stepStatus(d, 'create_bucket') === 'waiting_callback');
    admin = await signIn(adminClaims);
    acme = await signIn(tenantClaims('acme'));
    globex = await signIn(tenantClaims('globex'));
  });
  after(async () => {
    await s?.close();
  });

  it('signs in by POST with an HttpOnly, SameSite=Strict cookie scoped to /ui that does not carry the token', async () => {
    const token = await tokenFor(adminClaims);
    const res = await postLogin(token);
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/ui/workflows');
    const c = setCookie(res);
    assert.match(c, /^prov_ui_session=[A-Za-z0-9_-]+; Max-Age=\d+; Path=\/ui; HttpOnly; SameSite=Strict$/);
    assert.ok(!c.includes(token.split('.')[1]), 'the JWT is sealed, not stored in clear');
  });

  it("never signs in from a token in the URL, nor from another site's form (login CSRF)", async () => {
    const token = await tokenFor(adminClaims);
    const link = await get(`/ui/login?token=${token}`);
    assert.equal(link.statusCode, 400);
    assert.equal(link.headers['set-cookie'], undefined);
    assert.match(link.body, /not accepted in the URL/);
    assert.ok(!link.body.includes(token), 'the token is not echoed');
    assert.equal(link.headers['referrer-policy'], 'no-referrer');
    const hostile: Record<string, string>[] = [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null' }];
    for (const headers of hostile) {
      const res = await postLogin(token, undefined, headers);
      assert.equal(res.statusCode, 403, JSON.stringify(headers));
      assert.equal(res.headers['set-cookie'], undefined);
    }
    assert.equal(
      (await postLogin(token, undefined, { origin: 'http://localhost:80', host: 'localhost:80', 'sec-fetch-site': 'same-origin' }))
        .statusCode,
      303,
      'the own form signs in',
    );
  });

  it('signs in from the pasted-token form (POST, so the token stays out of the URL)', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: await tokenFor(adminClaims), next: '/ui/workflows?status=running' }).toString(),
    });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/ui/workflows?status=running');
  });

  it('refuses a bad token with the sign-in page and sets no cookie', async () => {
    const res = await postLogin('not.a.jwt');
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.match(res.body, /This token was not accepted/);
    assert.match(res.body, /<form method="post" action="\/ui\/login">/);
  });

  it('refuses a token that has neither a tenant nor the admin permission', async () => {
    const res = await postLogin(await tokenFor({ sub: 'nobody' }));
    assert.equal(res.statusCode, 401);
    assert.match(res.body, /neither a tenant_id claim nor the admin:provisioning permission/);
  });

  it('returns only to /ui/ pages after sign-in, never to another site', async () => {
    const token = await tokenFor(adminClaims);
    for (const next of ['//evil.example/ui/', 'https://evil.example/', '/ui/\\evil', '/api/v1/x']) {
      const res = await postLogin(token, next);
      assert.equal(res.headers.location, '/ui/workflows', next);
    }
    const res = await postLogin(token, `/ui/workflows/${storageWf}`);
    assert.equal(res.headers.location, `/ui/workflows/${storageWf}`);
  });

  it('answers every data page with the sign-in page, never data, without a session', async () => {
    for (const url of ['/ui/workflows', `/ui/workflows/${storageWf}`, `/ui/workflows/${storageWf}/actions/cancel`, '/ui/nowhere']) {
      const res = await get(url);
      assert.equal(res.statusCode, 401, url);
      assert.match(res.body, /Sign in to Provisioner/, url);
      assert.doesNotMatch(res.body, /create_bucket|data-workflow|data-step/, url);
    }
    const frag = await get(`/ui/workflows/${storageWf}/fragment`);
    assert.equal(frag.statusCode, 401);
    assert.doesNotMatch(frag.body, /create_bucket/);
  });

  it('treats an altered or foreign session cookie as no session', async () => {
    const [name, value] = admin.split('=');
    const flipped = `${name}=${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
    for (const cookie of [flipped, 'prov_ui_session=abc', `prov_ui_session=${Buffer.from('{"v":1}').toString('base64url')}`]) {
      const res = await get('/ui/workflows', cookie);
      assert.equal(res.statusCode, 401);
      assert.match(res.body, /Your session has ended/);
      assert.match(setCookie(res), /Max-Age=0/);
    }
  });

  it("signs out by clearing the cookie; the sign-out button needs the session's CSRF token", async () => {
    const session = await signIn(adminClaims);
    const csrf = csrfOf((await get('/ui/workflows', session)).body);
    const forged = await post('/ui/logout', session, { csrf: 'forged' });
    assert.equal(forged.statusCode, 403);
    assert.equal(forged.headers['set-cookie'], undefined);
    for (const res of [await post('/ui/logout', session, { csrf }), await get('/ui/logout', session)]) {
      assert.equal(res.statusCode, 303);
      assert.equal(res.headers.location, '/ui/login');
      assert.match(setCookie(res), /^prov_ui_session=; Max-Age=0; Path=\/ui; HttpOnly; SameSite=Strict/);
    }
  });

  it('sends a strict Content-Security-Policy and no-store on pages', async () => {
    const res = await get('/ui/workflows', admin);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-security-policy']), /script-src 'self'; style-src 'self'.*frame-ancestors 'none'/);
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-store');
    const css = /href="(\/ui\/assets\/app\.css\?v=[0-9a-f]+)"/.exec(res.body)?.[1] ?? assert.fail('no stylesheet link');
    const asset = await get(css);
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['content-type']), /text\/css/);
    assert.match(String(asset.headers['cache-control']), /immutable/);
  });

  it("shows a tenant user only its own workflows and answers 404 for another tenant's", async () => {
    const own = await get('/ui/workflows', acme);
    assert.match(own.body, new RegExp(storageWf));
    const other = await get('/ui/workflows?tenant=acme', globex);
    assert.doesNotMatch(other.body, new RegExp(storageWf), 'a tenant cannot widen its scope with ?tenant=');
    for (const url of [`/ui/workflows/${storageWf}`, `/ui/workflows/${storageWf}/fragment`, `/ui/workflows/${storageWf}/actions/cancel`]) {
      const res = await get(url, globex);
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /create_bucket/, url);
    }
  });

  it('lets only operators reach the admin actions, and shows tenants no action buttons', async () => {
    const page = await get(`/ui/workflows/${storageWf}`, acme);
    assert.equal(page.statusCode, 200);
    assert.doesNotMatch(page.body, /\/actions\//);
    const confirm = await get(`/ui/workflows/${storageWf}/actions/cancel`, acme);
    assert.equal(confirm.statusCode, 403);
    const res = await post(`/ui/workflows/${storageWf}/actions/cancel`, acme, { csrf: csrfOf(page.body), reason: 'mine' });
    assert.equal(res.statusCode, 403);
    assert.equal((await s.rt.queries.detail(storageWf, null)).status, 'running');
  });

  it("refuses an action without the session's CSRF token, from another site, or without a reason", async () => {
    const url = `/ui/workflows/${storageWf}/actions/force-complete`;
    const confirm = await get(url, admin);
    assert.equal(confirm.statusCode, 200);
    const csrf = csrfOf(confirm.body);
    const otherSessionCsrf = csrfOf((await get(url, await signIn(adminClaims))).body);
    assert.notEqual(csrf, otherSessionCsrf, 'the token is per session');

    assert.equal((await post(url, admin, { reason: 'no token' })).statusCode, 403);
    assert.equal((await post(url, admin, { reason: 'wrong token', csrf: otherSessionCsrf })).statusCode, 403);
    assert.equal((await post(url, admin, { reason: 'cross-site', csrf }, { 'sec-fetch-site': 'cross-site' })).statusCode, 403);
    const noReason = await post(url, admin, { csrf, reason: '   ' });
    assert.equal(noReason.statusCode, 422);
    assert.match(noReason.body, /Give a reason/);
    assert.equal((await s.rt.queries.detail(storageWf, null)).status, 'running', 'nothing happened');
  });

  it('pages the list newest first with an Older link', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 27; i++) ids.push(await startWorkflow(s.rt, `page-${String(i).padStart(2, '0')}`, 'quick'));
    const first = await get('/ui/workflows?service=quick', admin);
    const rowIds = (body: string) => [...body.matchAll(/<tr data-workflow="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(rowIds(first.body), [...ids].reverse().slice(0, 25));
    const older = /<a rel="next" href="([^"]+)">Older/.exec(first.body)?.[1] ?? assert.fail('no Older link');
    const second = await get(older.replace(/&amp;/g, '&'), admin);
    assert.deepEqual(rowIds(second.body), [ids[1], ids[0]]);
    assert.doesNotMatch(second.body, /Older/);
    assert.match(second.body, /Newest/);
    assert.match(first.body, /data-count-status="running"/);
  });

  it('answers the live fragment with 304 while nothing changed', async () => {
    const url = `/ui/workflows/${storageWf}/fragment`;
    const a = await get(url, admin);
    assert.equal(a.statusCode, 200);
    assert.match(a.body, /^<section id="live" data-live="true"/);
    const etag = String(a.headers.etag);
    assert.ok(a.body.includes(`data-etag="${etag.replaceAll('"', '&quot;')}"`), 'the page and the header carry the same version');
    // The 304 is decided on the workflow's version alone: its history is not read while nothing changed.
    let historyReads = 0;
    const events = s.rt.queries.events;
    s.rt.queries.events = async (...args) => {
      historyReads++;
      return events(...args);
    };
    try {
      assert.equal((await get(url, admin, { 'if-none-match': etag })).statusCode, 304);
      assert.equal(historyReads, 0);
    } finally {
      s.rt.queries.events = events;
    }
  });

  it('shows a not-found page for an unknown workflow or address', async () => {
    assert.equal((await get('/ui/workflows/wf_01JUNKJUNKJUNKJUNKJUNKJUNK', admin)).statusCode, 404);
    assert.equal((await get('/ui/workflows/%00', admin)).statusCode, 404, 'an id that is not a workflow id never reaches the database');
    const res = await get('/ui/nowhere', admin);
    assert.equal(res.statusCode, 404);
    assert.match(res.body, /There is no page at this address/);
  });

  it('runs an action with a reason as an audit event and returns to the workflow', async () => {
    const url = `/ui/workflows/${storageWf}/actions/cancel`;
    const csrf = csrfOf((await get(url, admin)).body);
    const res = await post(url, admin, { csrf, reason: 'customer asked <b>twice</b>' });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, `/ui/workflows/${storageWf}?done=cancel`);
    assert.equal((await s.rt.queries.detail(storageWf, null)).status, 'cancelled');
    const events = (await s.rt.queries.events(storageWf, null, undefined, 100)).items;
    const cancel = events.find((e) => e.type === 'admin.cancel');
    assert.equal(cancel?.reason, 'customer asked <b>twice</b>');
    assert.equal(cancel?.actor, adminClaims.sub);
    const page = await get(res.headers.location, admin);
    assert.match(page.body, /The workflow was cancelled\./);
    assert.match(page.body, /customer asked &lt;b&gt;twice&lt;\/b&gt;/);
    const again = await post(url, admin, { csrf, reason: 'again' });
    assert.equal(again.statusCode, 409, 'the engine refuses, and the page says why');
    assert.match(again.body, /already cancelled/);
  });
});

describe('the UI plugin on its own Fastify app', () => {
  it('keeps the token of an old-style sign-in link out of the request log', async () => {
    const rt = await startTestRuntime('sqlite');
    const lines: string[] = [];
    const app = Fastify({
      logger: {
        level: 'info',
        stream: {
          write: (line: string) => {
            lines.push(line);
          },
        },
      },
    });
    try {
      await app.register(uiPlugin({ runtime: rt, verifier: createTokenVerifier(rt.config.auth) }));
      const token = await tokenFor(adminClaims);
      const signIn = await app.inject({ method: 'GET', url: `/ui/login?token=${token}` });
      assert.equal(signIn.statusCode, 400, 'a link does not sign in');
      await app.inject({ method: 'GET', url: '/ui/workflows' });
      assert.ok(
        lines.some((l) => l.includes('"url":"/ui/workflows"')),
        'other requests are still logged',
      );
      assert.ok(!lines.some((l) => l.includes(token)), 'no log line carries the token');
    } finally {
      await app.close();
      await rt.dispose();
    }
  });

  it('marks the session cookie Secure when PUBLIC_URL is https', async () => {
    const rt = await startTestRuntime('sqlite', { PUBLIC_URL: 'https://provisioner.example.com' });
    const app = Fastify();
    try {
      await app.register(uiPlugin({ runtime: rt, verifier: createTokenVerifier(rt.config.auth) }));
      const res = await app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: await tokenFor(adminClaims) }).toString(),
      });
      assert.equal(res.statusCode, 303);
      assert.match(setCookie(res), /; HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      await app.close();
      await rt.dispose();
    }
  });
});
