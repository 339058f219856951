import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signToken } from '../../src/auth/token-signer.js';
import { ADMIN, startApi, tenantAdmin, type ApiHarness } from '../support/api.js';
import { TEST_JWT_SECRET } from '../support/runtime.js';
import { unique } from '../support/engine.js';
import { envelope, INTAKE_SECRET, sendEvent } from './helpers.js';

describe('the operator UI lists subscription events', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApi('sqlite', { PROVISIONER_INTAKE_SECRET: INTAKE_SECRET });
  });
  after(async () => {
    await api.close();
  });

  async function cookieFor(claims: Parameters<typeof signToken>[1]) {
    const res = await api.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: await signToken(TEST_JWT_SECRET, claims, '1h') }).toString(),
    });
    assert.equal(res.statusCode, 303);
    return String(res.headers['set-cookie']).split(';')[0];
  }

  it('shows each event with its status and reason to operators, filtered by status, and to no one else', async () => {
    const tenant = unique('t');
    await sendEvent(api, envelope({ type: 'subscription.suspended', tenant, slug: 'svc-x', at: 0 }));
    const admin = await cookieFor(ADMIN);
    const res = await api.app.inject({ method: 'GET', url: `/ui/events?tenant=${tenant}&status=ignored`, headers: { cookie: admin } });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /subscription\.suspended/);
    assert.match(res.body, /needs no workflow/);
    const none = await api.app.inject({ method: 'GET', url: `/ui/events?tenant=${tenant}&status=applied`, headers: { cookie: admin } });
    assert.doesNotMatch(none.body, /subscription\.suspended/);
    const tenantUser = await cookieFor(tenantAdmin(tenant));
    assert.equal((await api.app.inject({ method: 'GET', url: '/ui/events', headers: { cookie: tenantUser } })).statusCode, 403);
    assert.equal((await api.app.inject({ method: 'GET', url: '/ui/events' })).statusCode, 401);
  });
});
