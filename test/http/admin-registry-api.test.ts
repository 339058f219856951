import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, ADMIN, REGISTRAR, serviceToken, tenantAdmin, tenantReader, type ApiHarness } from '../support/api.js';
import { eventually, testDialects } from '../support/runtime.js';

function manifest(sim: ServiceSim, over: Record<string, unknown> = {}) {
  return {
    slug: 'db',
    name: 'Database',
    version: '1.0.0',
    base_url: sim.url,
    on_failure: 'hold',
    provision: [
      { name: 'create', type: 'http', request: { path: '/create' }, compensate: { method: 'DELETE', path: '/create' } },
      { name: 'configure', type: 'http', depends_on: ['create'], request: { path: '/configure' }, retry: { max_attempts: 1 } },
      { name: 'verify', type: 'http', depends_on: ['configure'], request: { path: '/verify' } },
    ],
    ...over,
  };
}

for (const dialect of testDialects()) {
  describe(`admin and registry API (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    let configureFails = true;
    before(async () => {
      sim = await startServiceSim();
      sim.route('POST', '/create', { status: 201, json: { id: 'c1' } });
      sim.route('DELETE', '/create', { status: 204 });
      sim.route('POST', '/configure', () =>
        configureFails ? { status: 400, json: { error: 'bad plan' } } : { status: 200, json: { ok: true } },
      );
      sim.route('POST', '/verify', { status: 200, json: { ok: true } });
      api = await startApi(dialect);
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    const detail = async (id: string) =>
      (await api.call({ method: 'GET', url: `/api/v1/admin/provisioning/workflows/${id}`, as: ADMIN })).json.data;

    it('registers a manifest (201), refuses a second POST (409), updates with PUT and records the version', async () => {
      const a = await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim) });
      assert.equal(a.status, 201, JSON.stringify(a.json));
      assert.equal(a.json.data.slug, 'db');
      const again = await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim) });
      assert.equal(again.status, 409);
      const same = await api.call({ method: 'PUT', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim) });
      assert.equal(same.status, 200);
      assert.equal(same.json.meta.version_changed, false);
      const catalog = await api.call({ method: 'GET', url: '/api/v1/catalog/services', as: tenantReader('anyone') });
      assert.deepEqual(
        catalog.json.data.map((s: { slug: string }) => s.slug),
        ['db'],
      );
      const hb = await api.call({
        method: 'POST',
        url: '/api/v1/registry/heartbeat',
        as: REGISTRAR,
        payload: { slug: 'db', status: 'degraded', version: '1.0.0' },
      });
      assert.equal(hb.status, 200);
      assert.equal(hb.json.data.status, 'degraded');
      assert.ok(hb.json.data.last_heartbeat_at);
      const services = await api.call({ method: 'GET', url: '/api/v1/registry/services', as: ADMIN });
      assert.equal(services.json.data[0].status, 'degraded');
    });

    it('refuses each kind of bad manifest with 422 naming the step and field', async () => {
      const bad: [string, Record<string, unknown>, RegExp, unknown[]][] = [
        [
          'duplicate step',
          {
            provision: [
              { name: 'a', type: 'http', request: { path: '/a' } },
              { name: 'a', type: 'http', request: { path: '/b' } },
            ],
          },
          /defined twice/,
          ['body', 'provision', 1, 'name'],
        ],
        [
          'unknown depends_on',
          { provision: [{ name: 'a', type: 'http', depends_on: ['nope'], request: { path: '/a' } }] },
          /nope/,
          ['body', 'provision', 0, 'depends_on', 0],
        ],
        [
          'cycle',
          {
            provision: [
              { name: 'a', type: 'http', depends_on: ['b'], request: { path: '/a' } },
              { name: 'b', type: 'http', depends_on: ['a'], request: { path: '/b' } },
            ],
          },
          /cycle/i,
          ['body', 'provision'],
        ],
        [
          'non-ancestor template',
          {
            provision: [
              { name: 'a', type: 'http', request: { path: '/a' } },
              { name: 'b', type: 'http', request: { path: '/b', body: { x: '{{steps.a.output.id}}' } } },
            ],
          },
          /ancestor/,
          ['body', 'provision', 1],
        ],
        ['bad base_url', { base_url: 'ftp://x' }, /base_url/, ['body', 'base_url']],
        ['unknown step type', { provision: [{ name: 'a', type: 'teleport' }] }, /teleport/, ['body', 'provision', 0, 'type']],
      ];
      for (const [name, over, msg, locPrefix] of bad) {
        const r = await api.call({
          method: 'PUT',
          url: '/api/v1/registry/register',
          as: REGISTRAR,
          payload: manifest(sim, { slug: 'bad', ...over }),
        });
        assert.equal(r.status, 422, `${name}: ${JSON.stringify(r.json)}`);
        const issue = r.json.detail.find((d: { loc: unknown[] }) => locPrefix.every((p, i) => d.loc[i] === p));
        assert.ok(issue, `${name}: an issue at ${locPrefix.join('.')} in ${JSON.stringify(r.json.detail)}`);
        assert.match(JSON.stringify(r.json.detail), msg, name);
      }
      const list = await api.call({ method: 'GET', url: '/api/v1/registry/services', as: ADMIN });
      assert.ok(!list.json.data.some((s: { slug: string }) => s.slug === 'bad'), 'a refused manifest registers nothing');
    });

    it('needs registry permissions: 401 without a token, 403 without registry:manage', async () => {
      assert.equal((await api.call({ method: 'PUT', url: '/api/v1/registry/register', payload: manifest(sim) })).status, 401);
      const r = await api.call({ method: 'PUT', url: '/api/v1/registry/register', as: tenantAdmin('t'), payload: manifest(sim) });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'forbidden');
      assert.equal(
        (await api.call({ method: 'GET', url: '/api/v1/registry/services', as: serviceToken('db') })).status,
        403,
        "a service's own token does not list the registry",
      );
    });

    it('holds a failed step, retries it through the admin API with a reason, and completes', async () => {
      configureFails = true;
      const start = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows',
        as: ADMIN,
        payload: { tenant_id: 'hold-co', service_slug: 'db' },
      });
      assert.equal(start.status, 201, JSON.stringify(start.json));
      const id = start.json.data.id;
      await eventually('workflow failed (held)', async () => (await detail(id)).status === 'failed');
      const early = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${id}/retry-step/verify`,
        as: ADMIN,
        payload: {},
      });
      assert.equal(early.status, 409, 'verify never ran, so it is not failed');
      assert.match(early.json.error.message, /failed steps/);
      const denied = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${id}/retry-step/configure`,
        as: tenantAdmin('hold-co'),
        payload: {},
      });
      assert.equal(denied.status, 403);
      configureFails = false;
      const retry = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${id}/retry-step/configure`,
        as: ADMIN,
        payload: { reason: 'plan fixed' },
      });
      assert.equal(retry.status, 200, JSON.stringify(retry.json));
      assert.equal(retry.json.data.status, 'running');
      assert.equal(retry.json.data.steps.find((s: { name: string }) => s.name === 'configure').retry_count, 1);
      await eventually('workflow completed', async () => (await detail(id)).status === 'completed');
      const events = await api.call({ method: 'GET', url: `/api/v1/admin/provisioning/workflows/${id}/events`, as: ADMIN });
      const audit = events.json.data.find((e: { type: string }) => e.type === 'admin.retry_step');
      assert.equal(audit.reason, 'plan fixed');
      assert.equal(audit.actor, 'ops');
      const again = await api.call({ method: 'POST', url: `/api/v1/admin/provisioning/workflows/${id}/cancel`, as: ADMIN, payload: {} });
      assert.equal(again.status, 409, 'a completed workflow cannot be cancelled');
    });

    it('refuses to deregister a service a tenant holds, and allows it once deprovisioned', async () => {
      const del = await api.call({
        method: 'DELETE',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: { slug: 'db', reason: 'retire' },
      });
      assert.equal(del.status, 409);
      assert.match(del.json.error.message, /a tenant still holds it provisioned/);
      assert.doesNotMatch(del.json.error.message, /hold-co|wf_/, "a registry 409 never names another tenant's workflow");
      const deprov = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows',
        as: ADMIN,
        payload: { tenant_id: 'hold-co', service_slug: 'db', kind: 'deprovision' },
      });
      assert.equal(deprov.status, 201, JSON.stringify(deprov.json));
      assert.deepEqual(
        deprov.json.data.steps.map((s: { name: string }) => s.name),
        ['create'],
      );
      await eventually('deprovision completed', async () => (await detail(deprov.json.data.id)).status === 'completed');
      assert.ok(sim.calls('DELETE', '/create').length >= 1);
      const status = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/db', as: tenantReader('hold-co') });
      assert.equal(status.json.data.kind, 'deprovision');
      const ok = await api.call({
        method: 'DELETE',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: { slug: 'db', reason: 'retire' },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
    });

    it('force-completes and cancels with the reason recorded, and lists every tenant for admins only', async () => {
      await api.call({
        method: 'PUT',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: manifest(sim, { slug: 'slow', provision: [{ name: 'wait', type: 'delay', delay: { seconds: 3600 } }] }),
      });
      const a = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows',
        as: ADMIN,
        payload: { tenant_id: 'fc', service_slug: 'slow' },
      });
      const b = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows',
        as: ADMIN,
        payload: { tenant_id: 'cx', service_slug: 'slow' },
      });
      await eventually('delay waiting', async () => (await detail(a.json.data.id)).steps[0].status === 'waiting_poll');
      const fc = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${a.json.data.id}/force-complete`,
        as: ADMIN,
        payload: { reason: 'done by hand' },
      });
      assert.equal(fc.status, 200);
      assert.equal(fc.json.data.status, 'completed');
      assert.equal(fc.json.data.steps[0].status, 'skipped');
      const cx = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/${b.json.data.id}/cancel`,
        as: ADMIN,
        payload: { reason: 'customer left' },
      });
      assert.equal(cx.status, 200);
      assert.equal(cx.json.data.status, 'cancelled');
      assert.equal(cx.json.data.steps[0].status, 'cancelled');
      const filtered = await api.call({ method: 'GET', url: '/api/v1/admin/provisioning/workflows?tenant_id=cx', as: ADMIN });
      assert.deepEqual(
        filtered.json.data.map((w: { tenant_id: string }) => w.tenant_id),
        ['cx'],
      );
      assert.equal((await api.call({ method: 'GET', url: '/api/v1/admin/provisioning/workflows', as: tenantAdmin('cx') })).status, 403);
      const missing = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows/wf_00000000000000000000000000/cancel',
        as: ADMIN,
        payload: {},
      });
      assert.equal(missing.status, 404);
    });
  });
}
