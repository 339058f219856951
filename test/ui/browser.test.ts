// The operator UI in a real browser: playwright-core driving Debian's chromium (never a downloaded one).
// CI installs it with `apt-get install -y chromium`; UPDATE_SCREENSHOTS=1 rewrites docs/screenshots/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Dialog, type Page } from 'playwright-core';
import type { TokenClaims } from '../../src/auth/token-signer.js';
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
import { storageManifest, flakyManifest, evilManifest, quickManifest, simulateServices, callbackTokenOf, XSS_PARAM } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

const node = (step: string, status?: string) => `g[data-step="${step}"]${status ? `[data-status="${status}"]` : ''}`;

describe('the operator UI in a browser', () => {
  let s: UiServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let storageWf: string;
  let flakyWf: string;
  let globexWf: string;
  let initechWf: string;

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return page;
  }

  /** Signs in as a person does: the token pasted into the form, which POSTs it. */
  async function logIn(page: Page, claims: TokenClaims): Promise<void> {
    await page.goto(`${s.url}/ui/login`);
    await page.fill('#token', await tokenFor(claims));
    await Promise.all([page.waitForURL(/\/ui\/workflows/), page.click('button[type=submit]')]);
  }

  async function signedIn(claims: TokenClaims): Promise<Page> {
    const page = await newPage();
    await logIn(page, claims);
    assert.equal(new URL(page.url()).pathname, '/ui/workflows');
    return page;
  }

  // A new page costs a renderer process (0.5–2 s on a busy CI machine), so the operator's page is
  // signed in once and reused; each test navigates it where it needs it.
  let operator: Page | undefined;
  async function asOperator(viewport = { width: 1280, height: 860 }): Promise<Page> {
    operator ??= await signedIn(adminClaims);
    await operator.setViewportSize(viewport);
    return operator;
  }

  /** A second browser (own cookie jar) for tenant and anonymous visits, signed out each time it is handed out. */
  let other: Page | undefined;
  async function signedOutPage(): Promise<Page> {
    other ??= await newPage();
    await other.context().clearCookies();
    return other;
  }

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing; install Debian's chromium (apt-get update && apt-get install -y chromium), never a downloaded browser`,
      );
    }
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    s = await startUiServer();
    simulateServices(s.sim);
    for (const m of [storageManifest, flakyManifest, quickManifest]) await s.rt.registry.register(m(s.sim.url));
    initechWf = await startWorkflow(s.rt, 'initech', 'quick');
    globexWf = await startWorkflow(s.rt, 'globex', 'quick');
    flakyWf = await startWorkflow(s.rt, 'acme', 'flaky', { plan: 'gold', region: 'eu-west' });
    storageWf = await startWorkflow(s.rt, 'acme', 'storage', { region: 'eu-west', size_gb: '500' });
    await Promise.all([
      waitForWorkflow(
        s.rt,
        storageWf,
        'storage to wait for the bucket callback',
        (d) => stepStatus(d, 'create_bucket') === 'waiting_callback' && stepStatus(d, 'build_index') === 'completed',
      ),
      waitForWorkflow(s.rt, flakyWf, 'flaky to fail and hold', (d) => d.status === 'failed'),
      waitForWorkflow(s.rt, globexWf, 'the globex workflow to complete', (d) => d.status === 'completed'),
    ]);
    browser = await launching;
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
  });

  it('signs in from a token link: an HttpOnly, SameSite=Strict cookie and the workflow list', async () => {
    const page = await signedIn(adminClaims);
    operator = page;
    const cookie = (await page.context().cookies()).find((c) => c.name === 'prov_ui_session');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/ui');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session');
    await page.getByRole('heading', { name: /Workflows/ }).waitFor();
  });

  it("lists every tenant's workflows newest first, with counts per status and a working filter", async () => {
    const page = await asOperator({ width: 1280, height: 560 });
    await page.goto(`${s.url}/ui/workflows`);
    const rows = page.locator('tr[data-workflow]');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-workflow'))), [
      storageWf,
      flakyWf,
      globexWf,
      initechWf,
    ]);
    const count = (status: string) => page.locator(`[data-count-status="${status}"] .n`).textContent();
    assert.equal(await count('running'), '1');
    assert.equal(await count('failed'), '1');
    assert.equal(await count('completed'), '2');
    if (SCREENSHOTS) await screenshot(page, 'docs/screenshots/workflows.png');

    await page.selectOption('#f-status', 'failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=failed/);
    assert.deepEqual(await page.locator('tr[data-workflow]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-workflow'))), [
      flakyWf,
    ]);
    await page.getByRole('link', { name: flakyWf }).click();
    await page.waitForURL(new RegExp(`/ui/workflows/${flakyWf}$`));
  });

  it('draws the DAG: one node per step, coloured by status, each a keyboard link to its panel', async () => {
    const page = await asOperator({ width: 1280, height: 820 });
    await page.goto(`${s.url}/ui/workflows/${storageWf}`);
    const nodes = page.locator('svg.dag g[data-step]');
    assert.equal(await nodes.count(), 4);
    assert.deepEqual(
      await nodes.evaluateAll((gs) => Object.fromEntries(gs.map((g) => [g.getAttribute('data-step'), g.getAttribute('data-status')]))),
      {
        create_account: 'completed',
        create_bucket: 'waiting_callback',
        build_index: 'completed',
        issue_keys: 'pending',
      },
    );
    assert.equal(await page.locator('svg.dag path.edge').count(), 4);
    const fill = await page
      .locator(`${node('create_account')} rect`)
      .first()
      .evaluate((r) => getComputedStyle(r).fill);
    assert.notEqual(
      fill,
      await page
        .locator(`${node('issue_keys')} rect`)
        .first()
        .evaluate((r) => getComputedStyle(r).fill),
      'status colours differ',
    );
    assert.match(await page.locator('[data-step-panel="create_bucket"]').innerText(), /waiting for the callback/);
    if (SCREENSHOTS) await screenshot(page, 'docs/screenshots/workflow-dag.png');

    await page.focus('#node-link-create_bucket');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#step-create_bucket$/);
  });

  it('updates the DAG live, without a reload, when a callback completes a step', async () => {
    const page = await asOperator();
    await page.goto(`${s.url}/ui/workflows/${storageWf}`);
    await page.locator(node('create_bucket', 'waiting_callback')).waitFor();
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });

    await s.rt.callbacks.receive(callbackTokenOf(s.sim), { status: 'completed', metadata: { bucket: 'b-1' } });

    await page.locator(node('create_bucket', 'completed')).waitFor();
    await page.locator(node('issue_keys', 'completed')).waitFor();
    await page.locator('[data-workflow-status="completed"]').waitFor();
    assert.equal(
      await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument),
      true,
      'the page was not reloaded',
    );
    await page.getByText('live updates stopped').waitFor();
  });

  it('lets an operator retry a failed step with a reason, and the step runs again', async () => {
    const page = await asOperator();
    await page.goto(`${s.url}/ui/workflows/${flakyWf}`);
    await page.locator(node('configure', 'failed')).waitFor();
    await page.click('#act-retry-configure');
    await page.waitForURL(/\/actions\/retry-step\?step=configure$/);
    await page.fill('#reason', 'plan gold is enabled in eu-west now');
    await page.click('#confirm');
    await page.waitForURL(new RegExp(`/ui/workflows/${flakyWf}\\?done=retry-step$`));
    await page.getByText('The step was queued to run again.').waitFor();
    await page.locator(node('configure', 'completed')).waitFor();
    await page.locator(node('activate', 'completed')).waitFor();
    assert.equal(s.sim.calls('POST', '/configure').length, 2);
    await page.locator('tr[data-event="admin.retry_step"]', { hasText: 'plan gold is enabled in eu-west now' }).waitFor();
  });

  it("shows a tenant user only its own workflows and a 404 page for another tenant's", async () => {
    const page = await signedOutPage();
    await logIn(page, tenantClaims('acme'));
    assert.equal(new URL(page.url()).pathname, '/ui/workflows');
    const ids = await page.locator('tr[data-workflow]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-workflow')));
    assert.deepEqual(ids.sort(), [flakyWf, storageWf].sort());
    const res = await page.goto(`${s.url}/ui/workflows/${globexWf}`);
    assert.equal(res?.status(), 404);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    assert.equal(await page.locator('svg.dag').count(), 0);
  });

  it('shows the sign-in page, never data, without a session, and signs in with the form', async () => {
    const page = await signedOutPage();
    for (const path of ['/ui/workflows', `/ui/workflows/${storageWf}`]) {
      const res = await page.goto(`${s.url}${path}`);
      assert.equal(res?.status(), 401, path);
      await page.locator('textarea#token').waitFor();
      assert.equal(await page.locator('tr[data-workflow], svg.dag').count(), 0, path);
    }
    await page.fill('#token', await tokenFor(adminClaims));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(new RegExp(`/ui/workflows/${storageWf}$`));
    await page.locator('svg.dag').waitFor();
  });

  it("renders <script> from a manifest, parameters and a service's error as text", async () => {
    await s.rt.registry.register(evilManifest(s.sim.url));
    const evilWf = await startWorkflow(s.rt, 'globex', 'evil', { note: XSS_PARAM });
    await waitForWorkflow(s.rt, evilWf, 'the hostile workflow to fail', (d) => d.status === 'failed');

    const page = await asOperator();
    const dialogs: string[] = [];
    const onDialog = (d: Dialog) => {
      dialogs.push(d.message());
      void d.dismiss();
    };
    page.on('dialog', onDialog);
    after(() => {
      page.off('dialog', onDialog);
    });
    for (const path of [`/ui/workflows/${evilWf}`, '/ui/workflows?service=evil']) {
      await page.goto(`${s.url}${path}`);
      const injected = await page.evaluate(() => ({
        xss: (window as unknown as { __xss?: string }).__xss,
        scripts: Array.from(document.querySelectorAll('script'), (e) => e.getAttribute('src')),
        imgs: document.querySelectorAll('img').length,
      }));
      assert.equal(injected.xss, undefined, path);
      assert.equal(injected.imgs, 0, path);
      assert.ok(
        injected.scripts.every((src) => src?.startsWith('/ui/assets/live.js?v=')),
        `${path}: only our script: ${injected.scripts}`,
      );
    }
    await page.goto(`${s.url}/ui/workflows/${evilWf}`);
    // The service's hostile answer is operator-only detail now (issue 11); the step error is our own text.
    assert.match(await page.locator('[data-step-error]').innerText(), /^POST \/evil answered 400 \(not retried/);
    assert.match(await page.locator('[data-parameters]').innerText(), /<script>window\.__xss = \\"param\\"<\/script>/);
    assert.deepEqual(dialogs, []);
  });
});

async function screenshot(page: Page, path: string): Promise<void> {
  mkdirSync('docs/screenshots', { recursive: true });
  await page.screenshot({ path, fullPage: false });
}
