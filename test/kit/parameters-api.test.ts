import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stringify as toYaml } from 'yaml';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';

const PARAMETERS = {
  required: ['plan'],
  properties: {
    plan: { type: 'string', enum: ['basic', 'pro'], description: 'the billing plan' },
    size_gb: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    region: { type: 'string', default: 'eu-1' },
  },
};

function manifest(sim: ServiceSim, slug: string, over: Record<string, unknown> = {}) {
  return {
    slug,
    name: 'Database',
    version: '1.0.0',
    base_url: sim.url,
    parameters: PARAMETERS,
    provision: [
      {
        name: 'create',
        type: 'http',
        request: {
          path: '/plans/{{parameters.plan}}',
          query: { region: '{{parameters.region}}' },
          body: { size: '{{parameters.size_gb}}' },
        },
      },
    ],
    ...over,
  };
}

for (const dialect of testDialects()) {
  describe(`declared parameters (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    before(async () => {
      sim = await startServiceSim();
      sim.route('POST', '/plans/basic', { status: 201, json: { id: 'd1' } });
      api = await startApi(dialect);
      const r = await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim, 'pdb') });
      assert.equal(r.status, 201, r.body);
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    const start = (parameters: unknown, tenant = 't1') =>
      api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin(tenant),
        payload: { service_slug: 'pdb', parameters },
      });

    it('refuses a start without a required parameter with 422 naming it, and starts nothing', async () => {
      const r = await start({});
      assert.equal(r.status, 422, r.body);
      assert.deepEqual(r.json.detail[0].loc, ['body', 'parameters', 'plan']);
      assert.match(r.json.detail[0].msg, /required.*billing plan/);
      const list = await api.call({ method: 'GET', url: '/api/v1/provisioning/workflows', as: tenantAdmin('t1') });
      assert.equal(list.json.data.length, 0);
    });

    it('lists every bad parameter at once: an enum, a bound and an unknown name', async () => {
      const r = await start({ plan: 'gold', size_gb: 0, colour: 'red' });
      assert.equal(r.status, 422);
      const locs = r.json.detail.map((d: { loc: string[] }) => d.loc.join('.')).sort();
      assert.deepEqual(locs, ['body.parameters.colour', 'body.parameters.plan', 'body.parameters.size_gb']);
      assert.ok(r.json.detail.some((d: { msg: string }) => d.msg.includes('"basic", "pro"')));
    });

    it('refuses an object where a path value is meant, instead of sending [object Object]', async () => {
      const r = await start({ plan: { $ne: null } });
      assert.equal(r.status, 422);
      assert.deepEqual(r.json.detail[0].loc, ['body', 'parameters', 'plan']);
    });

    it('fills defaults before the workflow runs and shows them on the workflow', async () => {
      const r = await start({ plan: 'basic' }, 't2');
      assert.equal(r.status, 201, r.body);
      assert.deepEqual(r.json.data.parameters, { plan: 'basic', size_gb: 10, region: 'eu-1' });
    });

    it('validates admin starts the same way', async () => {
      const r = await api.call({
        method: 'POST',
        url: '/api/v1/admin/provisioning/workflows',
        as: ADMIN,
        payload: { tenant_id: 't3', service_slug: 'pdb', parameters: { plan: 'x' } },
      });
      assert.equal(r.status, 422);
      assert.deepEqual(r.json.detail[0].loc, ['body', 'parameters', 'plan']);
    });

    it('shows the declared parameters in the catalog and the registry', async () => {
      const cat = await api.call({ method: 'GET', url: '/api/v1/catalog/services', as: tenantAdmin('t1') });
      assert.deepEqual(cat.json.data.find((s: { slug: string }) => s.slug === 'pdb').parameters, PARAMETERS);
      const reg = await api.call({ method: 'GET', url: '/api/v1/registry/services', as: ADMIN });
      assert.deepEqual(reg.json.data.find((s: { slug: string }) => s.slug === 'pdb').parameters, PARAMETERS);
    });

    it('refuses to register a template that reads an undeclared parameter', async () => {
      const m = manifest(sim, 'pdb2', {
        provision: [{ name: 'create', type: 'http', request: { path: '/x', body: { p: '{{parameters.plann}}' } } }],
      });
      const r = await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: m });
      assert.equal(r.status, 422, r.body);
      assert.equal(r.json.detail[0].type, 'template_undeclared_parameter');
      assert.deepEqual(r.json.detail[0].loc, ['body', 'provision', 0, 'request', 'body', 'p']);
    });

    it('takes a YAML manifest (application/yaml) and answers a YAML syntax error with 422', async () => {
      const ok = await api.call({
        method: 'PUT',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        headers: { 'content-type': 'application/yaml' },
        payload: toYaml(manifest(sim, 'ydb')),
      });
      assert.equal(ok.status, 201, ok.body);
      const bad = await api.call({
        method: 'PUT',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        headers: { 'content-type': 'application/yaml' },
        payload: 'slug: [unclosed',
      });
      assert.equal(bad.status, 422);
      assert.equal(bad.json.detail[0].type, 'yaml_invalid');
    });

    it('publishes the manifest JSON Schema without a token', async () => {
      const r = await api.call({ method: 'GET', url: '/api/v1/registry/manifest-schema.json' });
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /application\/schema\+json/);
      assert.equal(r.json.title, 'Provisioner service manifest');
      assert.ok(r.json.properties.parameters && r.json.properties.provision);
      assert.match(r.json.$id, /\/api\/v1\/registry\/manifest-schema\.json$/);
    });
  });
}
