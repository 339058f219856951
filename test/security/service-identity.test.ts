import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, ADMIN, serviceToken, tenantReader, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { serviceSigningSecret } from '../../src/engine/signing-secrets.js';

const manifest = (slug: string, baseUrl: string, version = '1.0.0') => ({
  slug,
  name: slug,
  version,
  base_url: baseUrl,
  provision: [{ name: 'a', type: 'http', request: { path: '/a' } }],
});

/** Issue 11, finding 1: a service's token acts on its own registration only, and every change names its actor. */
for (const dialect of testDialects()) {
  describe(`service identity in the registry (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect);
    });
    after(async () => {
      await api.close();
    });
    const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, as: Parameters<ApiHarness['call']>[0]['as'], payload?: unknown) =>
      api.call({ method, url: `/api/v1${url}`, as, payload: payload as object });

    it('refuses a registry:manage token without a service_slug claim with 403 saying what is missing', async () => {
      const r = await call(
        'PUT',
        '/registry/register',
        { sub: 'x', permissions: ['registry:manage'] },
        manifest('lonely', 'http://127.0.0.1:9'),
      );
      assert.equal(r.status, 403);
      assert.match(r.json.error.message, /no service_slug claim/);
    });

    it("lets a service register, update and heartbeat its own slug, and never another service's", async () => {
      const mine = await call(
        'POST',
        '/registry/register?reason=first%20release',
        serviceToken('alpha'),
        manifest('alpha', 'http://127.0.0.1:9001'),
      );
      assert.equal(mine.status, 201, JSON.stringify(mine.json));
      await call('POST', '/registry/register', serviceToken('beta'), manifest('beta', 'http://127.0.0.1:9002'));

      const takeover = await call('PUT', '/registry/register', serviceToken('alpha'), manifest('beta', 'http://127.0.0.1:6666', '9.9.9'));
      assert.equal(takeover.status, 403);
      assert.match(takeover.json.error.message, /acts for service alpha only, not beta/);
      const hb = await call('POST', '/registry/heartbeat', serviceToken('alpha'), { slug: 'beta', status: 'down' });
      assert.equal(hb.status, 403);
      const del = await call('DELETE', '/registry/register', serviceToken('alpha'), { slug: 'beta', reason: 'mine now' });
      assert.equal(del.status, 403);
      const rotate = await call('POST', '/registry/signing-secret', serviceToken('alpha'), { slug: 'beta' });
      assert.equal(rotate.status, 403);
      const beta = (await call('GET', '/registry/services', ADMIN)).json.data.find((s: { slug: string }) => s.slug === 'beta');
      assert.equal(beta.base_url, 'http://127.0.0.1:9002', 'beta still points at its own host');
      assert.equal(beta.version, '1.0.0');
      assert.equal(beta.status, 'unknown', 'a service that never sent a heartbeat is unknown, not healthy');

      assert.equal(
        (
          await call(
            'PUT',
            '/registry/register?reason=bug%20fix',
            serviceToken('alpha'),
            manifest('alpha', 'http://127.0.0.1:9001', '1.0.1'),
          )
        ).status,
        200,
      );
      assert.equal(
        (await call('POST', '/registry/heartbeat', serviceToken('alpha'), { slug: 'alpha', status: 'healthy' })).json.data.status,
        'healthy',
      );
      assert.equal(
        (await call('PUT', '/registry/register', ADMIN, manifest('beta', 'http://127.0.0.1:9003', '1.1.0'))).status,
        200,
        'admin:registry changes any service',
      );
    });

    it('lists the manifest versions and every registry change with its actor and reason', async () => {
      const versions = await call('GET', '/registry/services/alpha/versions', ADMIN);
      assert.equal(versions.status, 200);
      assert.deepEqual(
        versions.json.data.map((v: { version: string; actor: string; reason: string | null }) => [v.version, v.actor, v.reason]),
        [
          ['1.0.0', 'svc-alpha', 'first release'],
          ['1.0.1', 'svc-alpha', 'bug fix'],
        ],
      );
      assert.equal(
        (await call('GET', '/registry/services/alpha/versions', serviceToken('alpha'))).status,
        200,
        'a service reads its own history',
      );
      assert.equal((await call('GET', '/registry/services/alpha/versions', serviceToken('beta'))).status, 403);
      const audit = await call('GET', '/registry/services/beta/audit', ADMIN);
      assert.deepEqual(
        audit.json.data.map((a: { action: string; actor: string }) => [a.action, a.actor]),
        [
          ['update', 'ops'],
          ['register', 'svc-beta'],
        ],
      );
      assert.equal((await call('GET', '/registry/services/alpha/audit', ADMIN)).json.data[0].action, 'status.healthy');
      assert.equal((await call('GET', '/registry/services/nope/versions', ADMIN)).status, 404);
    });

    it('issues a signing secret once at first registration, stores it sealed, and rotates it', async () => {
      const first = await call('POST', '/registry/register', serviceToken('gamma'), manifest('gamma', 'http://127.0.0.1:9004'));
      const issued = first.json.data.signing_secret as string;
      assert.match(issued, /^pss_[A-Za-z0-9_-]{43}$/);
      const again = await call('PUT', '/registry/register', serviceToken('gamma'), manifest('gamma', 'http://127.0.0.1:9004', '2'));
      assert.equal(again.json.data.signing_secret, undefined, 'shown once only');
      assert.equal(await serviceSigningSecret(api.rt.store.db, api.rt.cipher, 'gamma'), issued);
      const row = await api.rt.store.db
        .selectFrom('services')
        .select('signing_secret')
        .where('slug', '=', 'gamma')
        .executeTakeFirstOrThrow();
      assert.ok(row.signing_secret && !row.signing_secret.includes(issued), 'stored sealed, never in plain text');

      const rotated = await call('POST', '/registry/signing-secret', serviceToken('gamma'), { slug: 'gamma', reason: 'leaked' });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
      assert.notEqual(rotated.json.data.signing_secret, issued);
      assert.equal(
        await serviceSigningSecret(api.rt.store.db, api.rt.cipher, 'gamma'),
        rotated.json.data.signing_secret,
        'requests are signed with the newest',
      );
      const audit = await call('GET', '/registry/services/gamma/audit', ADMIN);
      assert.equal(audit.json.data[0].action, 'signing_secret.rotate');
      assert.equal(audit.json.data[0].reason, 'leaked');
      assert.equal(await serviceSigningSecret(api.rt.store.db, api.rt.cipher, 'unregistered'), null);
    });

    it("hides the services' base_url from tenants in the catalog", async () => {
      const tenant = await call('GET', '/catalog/services', tenantReader('t1'));
      assert.equal(tenant.status, 200);
      assert.ok(tenant.json.data.length >= 1);
      for (const s of tenant.json.data) assert.equal(s.base_url, undefined, s.slug);
      assert.ok(
        (await call('GET', '/catalog/services', ADMIN)).json.data.every((s: { base_url?: string }) => typeof s.base_url === 'string'),
      );
    });

    it('documents the registry endpoints and the signing secret in the OpenAPI document', async () => {
      const doc = (await api.app.inject({ url: '/openapi.json' })).json();
      for (const path of [
        '/api/v1/registry/signing-secret',
        '/api/v1/registry/services/{slug}/versions',
        '/api/v1/registry/services/{slug}/audit',
      ]) {
        assert.ok(doc.paths[path], path);
      }
      assert.ok(doc.components.schemas.ServiceResponse.properties.signing_secret);
      assert.ok(doc.components.schemas.RegistryAuditEntry);
    });

    it('records the actor and reason of a removal', async () => {
      const del = await call('DELETE', '/registry/register', serviceToken('gamma'), { slug: 'gamma', reason: 'retired' });
      assert.equal(del.status, 200, JSON.stringify(del.json));
      const audit = await call('GET', '/registry/services/gamma/audit', ADMIN);
      assert.deepEqual(
        [audit.json.data[0].action, audit.json.data[0].actor, audit.json.data[0].reason],
        ['deregister', 'svc-gamma', 'retired'],
      );
    });
  });
}
