import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, tenantReader, type ApiHarness } from '../support/api.js';
import { eventually, testDialects } from '../support/runtime.js';

function manifest(sim: ServiceSim, slug = 'files') {
  return {
    slug,
    name: 'Files',
    version: '1.0.0',
    base_url: sim.url,
    on_failure: 'hold',
    provision: [
      { name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts', body: { tenant: '{{tenant.id}}' } } },
      {
        name: 'create_bucket',
        type: 'callback',
        depends_on: ['create_account'],
        request: { method: 'POST', path: '/buckets', body: { account: '{{steps.create_account.output.id}}', token: '{{callback.token}}' } },
        wait: { timeout_s: 60 },
      },
    ],
  };
}

for (const dialect of testDialects()) {
  describe(`provisioning API (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    before(async () => {
      sim = await startServiceSim();
      sim.route('POST', '/accounts', { status: 201, json: { id: 'acc-1' } });
      sim.route('POST', '/buckets', { status: 202, json: { accepted: true } });
      api = await startApi(dialect);
      const r = await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim) });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    async function tokenOf(workflowId: string): Promise<string> {
      const req = await sim.waitFor((r) => r.path === '/buckets' && r.headers['x-provisioner-workflow'] === workflowId, 5000);
      return (req.body as { token: string }).token;
    }
    const waitStep = (id: string, tenant: string, step: string, status: string) =>
      eventually(`${step} ${status}`, async () => {
        const r = await api.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${id}`, as: tenantReader(tenant) });
        return r.json.data.steps.find((s: { name: string }) => s.name === step).status === status ? r.json.data : null;
      });

    it('answers not_provisioned for a known service the tenant never provisioned, and 404 for an unknown service', async () => {
      const known = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/files', as: tenantReader('nobody') });
      assert.equal(known.status, 200);
      assert.equal(known.json.data.status, 'not_provisioned');
      assert.equal(known.json.data.workflow_id, null);
      assert.match(known.json.meta.request_id, /^req_/);
      const unknown = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/nope', as: tenantReader('nobody') });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, 'not_found');
    });

    it('starts a workflow, shows where it stands, accepts the callback and completes', async () => {
      const start = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('acme'),
        payload: { service_slug: 'files' },
      });
      assert.equal(start.status, 201, JSON.stringify(start.json));
      const wf = start.json.data;
      assert.match(wf.id, /^wf_[0-9A-Z]{26}$/);
      assert.equal(wf.tenant_id, 'acme');
      assert.equal(wf.steps.length, 2);
      for (const k of [
        'service_version',
        'kind',
        'status',
        'parameters',
        'endpoint',
        'has_credentials',
        'error',
        'steps_total',
        'steps_completed',
        'created_at',
        'started_at',
        'updated_at',
        'completed_at',
      ]) {
        assert.ok(k in wf, `WorkflowResponse has ${k}`);
      }
      for (const k of [
        'name',
        'type',
        'status',
        'depends_on',
        'retry_count',
        'max_attempts',
        'waiting_reason',
        'next_run_at',
        'deadline_at',
        'started_at',
        'completed_at',
        'error',
        'output',
        'endpoint',
      ]) {
        assert.ok(k in wf.steps[0], `StepResponse has ${k}`);
      }
      await waitStep(wf.id, 'acme', 'create_bucket', 'waiting_callback');
      const status = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/files', as: tenantReader('acme') });
      assert.equal(status.json.data.status, 'running');
      assert.equal(status.json.data.steps_completed, 1);
      assert.equal(status.json.data.waiting_on[0].step, 'create_bucket');
      assert.match(status.json.data.waiting_on[0].reason, /callback/);
      assert.ok(status.json.data.waiting_on[0].next_action_at);

      const token = await tokenOf(wf.id);
      const cb = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: { callback_token: token, status: 'success', endpoint: 'https://files.example/acme', credentials: { key: 'k-123' } },
      });
      assert.equal(cb.status, 200, JSON.stringify(cb.json));
      assert.deepEqual(cb.json.data, { workflow_id: wf.id, step_name: 'create_bucket', step_status: 'completed', duplicate: false });

      const done = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/files', as: tenantReader('acme') });
      assert.equal(done.json.data.status, 'completed');
      assert.equal(done.json.data.endpoint, 'https://files.example/acme');
      assert.equal(done.json.data.has_credentials, true);
      assert.ok(done.json.data.completed_at);

      const dup = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: {
          callback_token: token,
          status: 'completed',
          endpoint: 'https://files.example/acme',
          credentials: { key: 'k-123' },
          extra_field: 'ignored',
        },
      });
      assert.equal(dup.status, 200);
      assert.equal(dup.json.data.duplicate, true);
      const conflict = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: { callback_token: token, status: 'failed', error: 'boom' },
      });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.json.error.code, 'conflict');

      // Credentials: revealed only to tenant_admin, never in details, lists or events; each reveal is audited.
      const detail = await api.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${wf.id}`, as: tenantReader('acme') });
      const list = await api.call({ method: 'GET', url: '/api/v1/provisioning/workflows', as: tenantReader('acme') });
      const events = await api.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${wf.id}/events`, as: tenantReader('acme') });
      for (const body of [detail, list, events]) assert.ok(!JSON.stringify(body.json).includes('k-123'), 'no credential in reads');
      const denied = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/files/credentials', as: tenantReader('acme') });
      assert.equal(denied.status, 403);
      const reveal = await api.call({ method: 'GET', url: '/api/v1/provisioning/status/files/credentials', as: tenantAdmin('acme') });
      assert.equal(reveal.status, 200);
      assert.deepEqual(reveal.json.data.credentials, { key: 'k-123' });
      const after = await api.call({
        method: 'GET',
        url: `/api/v1/provisioning/workflows/${wf.id}/events?limit=500`,
        as: tenantReader('acme'),
      });
      const types = after.json.data.map((e: { type: string }) => e.type);
      assert.ok(
        types.includes('workflow.created') && types.includes('step.completed') && types.includes('credentials.revealed'),
        types.join(','),
      );
    });

    it('returns the same workflow for a repeated Idempotency-Key and 409 naming the active one for a second start', async () => {
      const headers = { 'idempotency-key': 'order-42' };
      const a = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('beta'),
        headers,
        payload: { service_slug: 'files' },
      });
      const b = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('beta'),
        headers,
        payload: { service_slug: 'files' },
      });
      assert.equal(a.status, 201);
      assert.equal(b.status, 200);
      assert.equal(b.json.data.id, a.json.data.id);
      const c = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('beta'),
        payload: { service_slug: 'files' },
      });
      assert.equal(c.status, 409);
      assert.ok(c.json.error.message.includes(a.json.data.id), c.json.error.message);
    });

    it("answers 404, not 403, for another tenant's workflow, and lists only the caller's tenant", async () => {
      const own = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/workflows',
        as: tenantAdmin('gamma'),
        payload: { service_slug: 'files' },
      });
      const other = await api.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${own.json.data.id}`, as: tenantReader('delta') });
      assert.equal(other.status, 404);
      assert.equal(other.json.error.code, 'not_found');
      const otherEvents = await api.call({
        method: 'GET',
        url: `/api/v1/provisioning/workflows/${own.json.data.id}/events`,
        as: tenantReader('delta'),
      });
      assert.equal(otherEvents.status, 404);
      const list = await api.call({ method: 'GET', url: '/api/v1/provisioning/workflows', as: tenantReader('delta') });
      assert.equal(list.json.data.length, 0);
      assert.equal(list.json.meta.count, 0);
      const admin = await api.call({ method: 'GET', url: `/api/v1/admin/provisioning/workflows/${own.json.data.id}`, as: ADMIN });
      assert.equal(admin.status, 200);
    });

    it('pages the workflow list newest first with a cursor and filters it', async () => {
      for (const svc of ['p1', 'p2', 'p3']) {
        await api.call({ method: 'POST', url: '/api/v1/registry/register', as: REGISTRAR, payload: manifest(sim, svc) });
        const r = await api.call({
          method: 'POST',
          url: '/api/v1/provisioning/workflows',
          as: tenantAdmin('pager'),
          payload: { service_slug: svc },
        });
        assert.equal(r.status, 201);
      }
      const first = await api.call({ method: 'GET', url: '/api/v1/provisioning/workflows?limit=2', as: tenantReader('pager') });
      assert.deepEqual(
        first.json.data.map((w: { service_slug: string }) => w.service_slug),
        ['p3', 'p2'],
      );
      assert.equal(first.json.meta.limit, 2);
      assert.equal(first.json.meta.count, 2);
      assert.ok(first.json.meta.next_cursor);
      const second = await api.call({
        method: 'GET',
        url: `/api/v1/provisioning/workflows?limit=2&cursor=${first.json.meta.next_cursor}`,
        as: tenantReader('pager'),
      });
      assert.deepEqual(
        second.json.data.map((w: { service_slug: string }) => w.service_slug),
        ['p1'],
      );
      assert.equal(second.json.meta.next_cursor, null);
      const filtered = await api.call({
        method: 'GET',
        url: '/api/v1/provisioning/workflows?service_slug=p2&status=running',
        as: tenantReader('pager'),
      });
      assert.equal(filtered.json.data.length, 1);
    });

    it('refuses bad input with the contract shapes and changes nothing', async () => {
      const before = await api.call({ method: 'GET', url: '/api/v1/admin/provisioning/workflows?limit=500', as: ADMIN });
      const cases: [string, Parameters<ApiHarness['call']>[0], number, unknown[]?][] = [
        [
          'missing service_slug',
          { method: 'POST', url: '/api/v1/provisioning/workflows', as: tenantAdmin('x'), payload: {} },
          422,
          ['body', 'service_slug'],
        ],
        [
          'bad kind',
          {
            method: 'POST',
            url: '/api/v1/provisioning/workflows',
            as: tenantAdmin('x'),
            payload: { service_slug: 'files', kind: 'destroy' },
          },
          422,
          ['body', 'kind'],
        ],
        [
          'limit out of range',
          { method: 'GET', url: '/api/v1/provisioning/workflows?limit=501', as: tenantReader('x') },
          422,
          ['query', 'limit'],
        ],
        [
          'bad workflow id',
          { method: 'GET', url: '/api/v1/provisioning/workflows/nope', as: tenantReader('x') },
          422,
          ['path', 'workflow_id'],
        ],
        [
          'callback without status',
          { method: 'POST', url: '/api/v1/provisioning/callback', payload: { callback_token: 'cbt_x' } },
          422,
          ['body', 'status'],
        ],
        [
          'callback with unknown status',
          { method: 'POST', url: '/api/v1/provisioning/callback', payload: { callback_token: 'cbt_x', status: 'done' } },
          422,
          ['body', 'status'],
        ],
        [
          'callback malformed JSON',
          {
            method: 'POST',
            url: '/api/v1/provisioning/callback',
            payload: '{"callback_token":',
            headers: { 'content-type': 'application/json' },
          },
          422,
        ],
        [
          'callback unknown token',
          {
            method: 'POST',
            url: '/api/v1/provisioning/callback',
            payload: { callback_token: `cbt_${'A'.repeat(43)}`, status: 'completed' },
          },
          404,
        ],
        [
          'callback garbage token',
          { method: 'POST', url: '/api/v1/provisioning/callback', payload: { callback_token: '../../etc/passwd', status: 'completed' } },
          404,
        ],
        ['no token', { method: 'GET', url: '/api/v1/provisioning/workflows' }, 401],
        ['token without tenant', { method: 'GET', url: '/api/v1/provisioning/workflows', as: { sub: 'x' } }, 403],
        [
          'reader cannot start',
          { method: 'POST', url: '/api/v1/provisioning/workflows', as: tenantReader('x'), payload: { service_slug: 'files' } },
          403,
        ],
        [
          'unknown service',
          { method: 'POST', url: '/api/v1/provisioning/workflows', as: tenantAdmin('x'), payload: { service_slug: 'nope' } },
          404,
        ],
        [
          'deprovision nothing',
          {
            method: 'POST',
            url: '/api/v1/provisioning/workflows',
            as: tenantAdmin('x'),
            payload: { service_slug: 'files', kind: 'deprovision' },
          },
          409,
        ],
      ];
      for (const [name, req, status, loc] of cases) {
        const r = await api.call(req);
        assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
        if (status === 422) {
          assert.ok(Array.isArray(r.json.detail), name);
          if (loc) assert.deepEqual(r.json.detail[0].loc, loc, name);
          assert.equal(typeof r.json.detail[0].msg, 'string');
          assert.equal(typeof r.json.detail[0].type, 'string');
        } else {
          assert.equal(typeof r.json.error.code, 'string', name);
          assert.match(r.json.error.request_id, /^req_/);
        }
      }
      const huge = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: { callback_token: 'cbt_x', status: 'completed', metadata: { pad: 'x'.repeat(300 * 1024) } },
      });
      assert.equal(huge.status, 413);
      assert.equal(huge.json.error.code, 'payload_too_large');
      const after = await api.call({ method: 'GET', url: '/api/v1/admin/provisioning/workflows?limit=500', as: ADMIN });
      assert.equal(after.json.data.length, before.json.data.length, 'nothing was created');
    });

    it('echoes X-Request-Id and publishes the contract component names in /openapi.json', async () => {
      const r = await api.call({
        method: 'GET',
        url: '/api/v1/provisioning/workflows',
        as: tenantReader('x'),
        headers: { 'x-request-id': 'trace-123' },
      });
      assert.equal(r.headers['x-request-id'], 'trace-123');
      assert.equal(r.json.meta.request_id, 'trace-123');
      const spec = await api.call({ method: 'GET', url: '/openapi.json' });
      const names = Object.keys(spec.json.components.schemas);
      for (const n of [
        'ProvisioningCallbackRequest',
        'ProvisioningStatusResponse',
        'WorkflowResponse',
        'WorkflowDetailResponse',
        'StepResponse',
        'HTTPValidationError',
        'ValidationError',
        'ApiResponse_dict_',
        'ApiResponse_ProvisioningStatusResponse_',
        'ApiResponse_list_WorkflowResponse__',
        'ApiResponse_WorkflowDetailResponse_',
      ]) {
        assert.ok(names.includes(n), `component ${n} in ${names.join(', ')}`);
      }
      assert.ok(spec.json.paths['/api/v1/provisioning/callback'].post);
    });
  });
}
