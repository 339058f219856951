import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, ADMIN, REGISTRAR, tenantAdmin, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { jsonDepth, MAX_JSON_DEPTH } from '../../src/domain/json-limits.js';
import { redactSecrets } from '../../src/domain/secrets.js';

const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { a: v } : [v];
  return v;
};
/** Built as text: JSON.stringify of 5,000 levels is itself the kind of recursion being tested. */
const deepText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('JSON depth', () => {
  it('measures depth on raw text, ignoring brackets inside strings, without recursion', () => {
    assert.equal(jsonDepth('{"a":[1,{"b":"[[[{{{"}]}'), 3);
    assert.equal(jsonDepth('"\\"{"'), 0);
    assert.equal(jsonDepth(deepText(100_000)), MAX_JSON_DEPTH + 1, 'stops as soon as it is over');
    assert.equal(jsonDepth(JSON.stringify(nested(32))), 32);
  });

  it('renders a value nested thousands deep without overflowing (the UI path), cut at the limit', () => {
    let v: unknown = 1;
    for (let i = 0; i < 20_000; i++) v = { a: v };
    const text = JSON.stringify(redactSecrets(v));
    assert.match(text, /\[nested too deep\]/);
  });
});

/** Issue 11 finding 6: deep or huge JSON is refused before any work, never a 500. */
for (const dialect of testDialects()) {
  describe(`body limits (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect);
    });
    after(async () => {
      await api.close();
    });
    const raw = (url: string, as: Parameters<ApiHarness['call']>[0]['as'], body: string, method: 'POST' | 'PUT' = 'POST') =>
      api.call({ method, url: `/api/v1${url}`, as, payload: body, headers: { 'content-type': 'application/json' } });

    it('answers 422 with loc ["body"] for JSON deeper than 32 levels on every endpoint, before any work', async () => {
      const cases: [string, string, Parameters<ApiHarness['call']>[0]['as'], 'POST' | 'PUT', (deep: string) => string][] = [
        [
          'callback metadata',
          '/provisioning/callback',
          null,
          'POST',
          (d) => `{"callback_token":"cbt_${'a'.repeat(43)}","status":"completed","metadata":${d}}`,
        ],
        ['workflow parameters', '/provisioning/workflows', tenantAdmin('deep'), 'POST', (d) => `{"service_slug":"nope","parameters":${d}}`],
        [
          'manifest',
          '/registry/register',
          REGISTRAR,
          'PUT',
          (d) => `{"slug":"deep","name":"d","version":"1","base_url":"http://127.0.0.1:9","provision":[],"x":${d}}`,
        ],
        [
          'webhook subscription',
          '/admin/webhook-subscriptions',
          ADMIN,
          'POST',
          (d) => `{"target_url":"http://127.0.0.1:9/h","secret":"${'s'.repeat(40)}","topics":[${d}]}`,
        ],
      ];
      for (const [what, url, as, method, body] of cases) {
        for (const depth of [40, 5000]) {
          const r = await raw(url, as, body(deepText(depth)), method);
          assert.equal(r.status, 422, `${what} at depth ${depth}: ${r.body.slice(0, 200)}`);
          assert.deepEqual(r.json.detail[0].loc, ['body'], what);
          assert.match(r.json.detail[0].msg, /deeper than 32 levels/);
        }
      }
      const services = await api.call({ method: 'GET', url: '/api/v1/registry/services', as: ADMIN });
      assert.ok(!services.json.data.some((s: { slug: string }) => s.slug === 'deep'), 'nothing was registered');
    });

    it('accepts JSON exactly 32 levels deep', async () => {
      const body = JSON.stringify({ service_slug: 'nope', parameters: nested(31) });
      assert.equal(jsonDepth(body), 32);
      const r = await raw('/provisioning/workflows', tenantAdmin('deep'), body);
      assert.notEqual(r.status, 422, r.body.slice(0, 200));
      assert.equal(r.status, 404, 'it got as far as looking up the service');
    });

    it('answers 413 for bodies over the limit', async () => {
      const big = (n: number) => `{"callback_token":"cbt_${'a'.repeat(43)}","status":"completed","metadata":{"x":"${'y'.repeat(n)}"}}`;
      const r = await raw('/provisioning/callback', null, big(300 * 1024));
      assert.equal(r.status, 413);
      assert.equal(r.json.error.code, 'payload_too_large');
      const sub = await raw(
        '/admin/webhook-subscriptions',
        ADMIN,
        `{"target_url":"http://127.0.0.1:9/h","secret":"${'s'.repeat(40)}","topics":["${'t'.repeat(70 * 1024)}"]}`,
      );
      assert.equal(sub.status, 413);
      const params = await raw(
        '/provisioning/workflows',
        tenantAdmin('big'),
        `{"service_slug":"x","parameters":{"p":"${'z'.repeat(1100 * 1024)}"}}`,
      );
      assert.equal(params.status, 413);
    });
  });
}
