import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, tenantReader, type ApiHarness } from '../support/api.js';
import { eventually, testDialects } from '../support/runtime.js';
import { extraExecutor, stepOf, untilStep, untilWorkflow } from '../support/engine.js';

/**
 * Nothing is silently stuck (DESIGN §7): the executor's claim loop is the sweeper for waits past their
 * deadline, and GET /admin/provisioning/stuck names every workflow that has not moved, with why.
 */
const STUCK = '/api/v1/admin/provisioning/stuck';

interface StuckItem {
  id: string;
  status: string;
  reason: string;
  stuck_for_s: number;
  last_progress_at: string;
  waiting_on: { step: string; status: string; reason: string; next_action_at: string | null }[];
}

for (const dialect of testDialects()) {
  describe(`stuck detection (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    let seq = 0;
    before(async () => {
      sim = await startServiceSim();
      sim.route('POST', '/wait', { status: 202 });
      sim.route('POST', '/refuse', { status: 400, json: { error: 'quota exceeded' } });
      sim.route('POST', '/ok', { json: { ok: true } });
      sim.route('POST', '/start-poll', { status: 202, json: { poll_url: '/poll' } });
      sim.route('GET', '/poll', { hang: true });
      // The executor is started per test where needed, so a test can let a deadline pass with no worker.
      api = await startApi(dialect, { PROVISIONER_STUCK_AFTER_S: '1' }, { executor: false });
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    async function start(provision: unknown[], onFailure = 'hold') {
      const slug = `stuck-${++seq}`;
      const reg = await api.call({
        method: 'POST',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: { slug, name: slug, version: '1', base_url: sim.url, on_failure: onFailure, provision },
      });
      assert.equal(reg.status, 201, JSON.stringify(reg.json));
      const r = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin(`tenant-${slug}`),
        payload: { service_slug: slug },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.data.id as string;
    }
    const stuck = async (query = '') => {
      const r = await api.call({ method: 'GET', url: `${STUCK}${query}`, as: ADMIN });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json.data as StuckItem[];
    };
    const find = async (id: string, query = '?older_than_s=0&limit=500') => (await stuck(query)).find((w) => w.id === id);

    it('fails a wait whose deadline passed while no worker ran, as soon as a worker claims again, with no callback or poll answer', async (t) => {
      const first = extraExecutor(api.rt);
      first.start();
      const cb = await start([{ name: 'await_bucket', type: 'callback', request: { path: '/wait' }, wait: { timeout_s: 2 } }]);
      const poll = await start([
        { name: 'await_index', type: 'poll', request: { path: '/start-poll' }, timeout_s: 0.1, poll: { interval_s: 0.05, timeout_s: 2 } },
      ]);
      const waiting = await untilStep(api.rt, cb, 'await_bucket', 'waiting_callback');
      await untilStep(api.rt, poll, 'await_index', 'waiting_poll');
      await first.stop(200);

      // No worker, the deadline passes: the stuck report says so instead of staying silent.
      const deadline = Date.parse(stepOf(waiting, 'await_bucket').deadline_at as string);
      const overdue = await eventually('the wait to show as overdue', async () => {
        const w = await find(cb);
        return w && Date.now() > deadline && /overdue since/.test(w.reason) ? w : null;
      });
      assert.equal(overdue.status, 'running');
      assert.equal(overdue.waiting_on[0].step, 'await_bucket');
      assert.equal(overdue.waiting_on[0].next_action_at, new Date(deadline).toISOString());
      assert.match(overdue.reason, /waiting for the callback of POST \/wait/);
      assert.match(overdue.reason, /is a worker running\?/);

      // A worker comes back: its claim loop is the sweeper.
      const second = extraExecutor(api.rt);
      second.start();
      t.after(() => second.stop(200));
      const failed = await untilWorkflow(api.rt, cb, 'failed');
      assert.equal(stepOf(failed, 'await_bucket').error, 'timed out waiting for callback');
      assert.ok(Date.parse(stepOf(failed, 'await_bucket').completed_at as string) >= deadline);
      const polled = await untilWorkflow(api.rt, poll, 'failed');
      assert.equal(stepOf(polled, 'await_index').error, 'timed out waiting for poll');
      const held = await find(cb);
      assert.match(held?.reason ?? '', /^failed and held: step await_bucket failed: timed out waiting for callback/);
      await second.stop(200);
    });

    it('lists held failures and long waits with their reasons, oldest first, and leaves out finished or recently active workflows', async (t) => {
      const ex = extraExecutor(api.rt);
      ex.start();
      t.after(() => ex.stop(200));
      const refused = await start([{ name: 'create', type: 'http', request: { path: '/refuse' } }]);
      await untilWorkflow(api.rt, refused, 'failed');
      const waiting = await start([
        { name: 'create', type: 'http', request: { path: '/ok' } },
        { name: 'await_bucket', type: 'callback', depends_on: ['create'], request: { path: '/wait' }, wait: { timeout_s: 600 } },
        { name: 'after_bucket', type: 'http', depends_on: ['await_bucket'], request: { path: '/ok' } },
      ]);
      const w = await untilStep(api.rt, waiting, 'await_bucket', 'waiting_callback');
      const done = await start([{ name: 'create', type: 'http', request: { path: '/ok' } }]);
      await untilWorkflow(api.rt, done, 'completed');

      const all = await stuck('?older_than_s=0&limit=500');
      const ids = all.map((x) => x.id);
      assert.ok(!ids.includes(done), 'a completed workflow is never stuck');
      assert.ok(ids.indexOf(refused) < ids.indexOf(waiting), 'oldest progress first');
      const held = all.find((x) => x.id === refused) as StuckItem;
      assert.equal(held.status, 'failed');
      assert.match(
        held.reason,
        /^failed and held: step create failed: POST \/refuse answered 400.*; retry a failed step or cancel the workflow$/,
      );
      const wait = all.find((x) => x.id === waiting) as StuckItem;
      assert.deepEqual(
        wait.waiting_on.map((s) => [s.step, s.status, s.next_action_at]),
        [['await_bucket', 'waiting_callback', stepOf(w, 'await_bucket').deadline_at]],
      );
      assert.match(wait.reason, /^running, waiting on await_bucket \(waiting for the callback of POST \/wait until /);
      assert.ok(!/overdue/.test(wait.reason), 'a wait before its deadline is not overdue');
      assert.ok(wait.stuck_for_s >= 0 && Date.parse(wait.last_progress_at) <= Date.now());
      for (const k of ['tenant_id', 'service_slug', 'steps_total', 'steps_completed', 'created_at']) assert.ok(k in wait, k);

      assert.equal(
        (await stuck('?older_than_s=3600')).some((x) => x.id === waiting),
        false,
        'recent progress is not stuck',
      );
      assert.equal((await stuck('?older_than_s=0&limit=1')).length, 1);
      // Without older_than_s, PROVISIONER_STUCK_AFTER_S (1 s here) applies.
      await eventually('the wait to be older than the configured time', async () => (await stuck()).some((x) => x.id === waiting));
    });

    it('is for operators only and checks its query', async () => {
      assert.equal((await api.call({ method: 'GET', url: STUCK })).status, 401);
      assert.equal((await api.call({ method: 'GET', url: STUCK, as: tenantReader('acme') })).status, 403);
      assert.equal((await api.call({ method: 'GET', url: STUCK, as: tenantAdmin('acme') })).status, 403);
      const bad = await api.call({ method: 'GET', url: `${STUCK}?older_than_s=-1&limit=0`, as: ADMIN });
      assert.equal(bad.status, 422);
      assert.deepEqual(bad.json.detail.map((d: { loc: string[] }) => d.loc.join('.')).sort(), ['query.limit', 'query.older_than_s']);
      const spec = await api.call({ method: 'GET', url: '/openapi.json' });
      assert.ok(spec.json.paths[STUCK].get, 'documented');
      assert.ok(spec.json.components.schemas.ApiResponse_list_StuckWorkflowResponse__, 'with its named envelope');
    });
  });
}
