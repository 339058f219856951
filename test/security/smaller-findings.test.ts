import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, REGISTRAR, tenantAdmin, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startFingerprint } from '../../src/domain/idempotency.js';

/** Issue 11 finding 9 (the parts not covered by service-identity and network-policy tests). */
describe('idempotency fingerprint', () => {
  it('ignores key order and tells apart kind, service and parameters', () => {
    assert.equal(
      startFingerprint('provision', 'files', { a: 1, b: { c: 2, d: 3 } }),
      startFingerprint('provision', 'files', { b: { d: 3, c: 2 }, a: 1 }),
    );
    assert.notEqual(startFingerprint('provision', 'files', { a: 1 }), startFingerprint('provision', 'files', { a: 2 }));
    assert.notEqual(startFingerprint('provision', 'files', {}), startFingerprint('deprovision', 'files', {}));
    assert.notEqual(startFingerprint('provision', 'files', {}), startFingerprint('provision', 'db', {}));
  });
});

for (const dialect of testDialects()) {
  describe(`smaller trust findings (${dialect})`, () => {
    let api: ApiHarness;
    let sim: ServiceSim;
    before(async () => {
      sim = await startServiceSim();
      sim.route('POST', '/jobs', { status: 202, json: {} });
      api = await startApi(dialect);
      const r = await api.call({
        method: 'POST',
        url: '/api/v1/registry/register',
        as: REGISTRAR,
        payload: {
          slug: 'cb',
          name: 'cb',
          version: '1',
          base_url: sim.url,
          provision: [
            {
              name: 'job',
              type: 'callback',
              request: { path: '/jobs', body: { callback_token: '{{callback.token}}' } },
              wait: { timeout_s: 600 },
            },
          ],
        },
      });
      assert.equal(r.status, 201, r.body);
    });
    after(async () => {
      await api.close();
      await sim.close();
    });

    it('answers 422 naming the conflict when an Idempotency-Key is reused with different parameters', async () => {
      const start = (parameters: object) =>
        api.call({
          method: 'POST',
          url: '/api/v1/provisioning/workflows',
          as: tenantAdmin('idem'),
          headers: { 'idempotency-key': 'order-7' },
          payload: { service_slug: 'cb', parameters },
        });
      const first = await start({ plan: 'gold', seats: 3 });
      assert.equal(first.status, 201, first.body);
      const same = await start({ seats: 3, plan: 'gold' });
      assert.equal(same.status, 200, 'the same request in another key order is a repeat');
      assert.equal(same.json.data.id, first.json.data.id);
      const other = await start({ plan: 'silver', seats: 3 });
      assert.equal(other.status, 422, other.body);
      assert.deepEqual(other.json.detail[0].loc, ['header', 'idempotency-key']);
      assert.match(
        other.json.detail[0].msg,
        new RegExp(`already used for workflow ${first.json.data.id}, and this request.s parameters differs`),
      );
    });

    it('refuses a callback endpoint that is not an http(s) URL with 422, and accepts it unchanged otherwise', async () => {
      const req = await sim.waitFor((r) => r.path === '/jobs');
      const token = (req.body as { callback_token: string }).callback_token;
      for (const endpoint of ['javascript:alert(1)', 'data:text/html,<script>x</script>', 'file:///etc/passwd', 'not a url']) {
        const r = await api.call({
          method: 'POST',
          url: '/api/v1/provisioning/callback',
          payload: { callback_token: token, status: 'completed', endpoint },
        });
        assert.equal(r.status, 422, `${endpoint}: ${r.body}`);
        assert.deepEqual(r.json.detail[0].loc, ['body', 'endpoint']);
      }
      const ok = await api.call({
        method: 'POST',
        url: '/api/v1/provisioning/callback',
        payload: { callback_token: token, status: 'completed', endpoint: 'https://cb.example.com/t/idem' },
      });
      assert.equal(ok.status, 200, ok.body);
    });
  });
}
