import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { computeSignature, requestInfo, signedHeaders, verifyRequest } from '../../packages/service-client/src/index.js';

const NOW = 1_800_000_000_000;
const body = '{"account":"acc_1"}';

describe('service client: verifyRequest', () => {
  it('accepts a request signed with the secret over "<timestamp>.<raw body>"', () => {
    const headers = { 'X-Provisioner-Timestamp': '1800000000', 'X-Provisioner-Signature': computeSignature('s3cret', 1800000000, body) };
    assert.deepEqual(verifyRequest({ headers, rawBody: body, secrets: ['s3cret'], now: () => NOW }), { ok: true, timestamp: 1800000000 });
  });

  it('matches an independent HMAC of the documented string', async () => {
    const { createHmac } = await import('node:crypto');
    const expected = `sha256=${createHmac('sha256', 'k').update(`1800000000.${body}`).digest('hex')}`;
    assert.equal(computeSignature('k', 1800000000, Buffer.from(body)), expected);
    assert.equal(computeSignature('k', 1800000000, ''), `sha256=${createHmac('sha256', 'k').update('1800000000.').digest('hex')}`);
  });

  it('accepts the old secret during a rotation (several secrets)', () => {
    const headers = signedHeaders('old', body, NOW);
    assert.equal(verifyRequest({ headers, rawBody: body, secrets: ['new', 'old'], now: () => NOW }).ok, true);
  });

  it('refuses a changed body, a wrong secret, a stale timestamp and a missing header, saying which', () => {
    const headers = signedHeaders('s', body, NOW);
    const check = (h: Record<string, string>, raw = body, now = NOW) =>
      verifyRequest({ headers: h, rawBody: raw, secrets: ['s'], now: () => now });
    assert.deepEqual(pick(check(headers, '{"account":"acc_2"}')), 'bad_signature');
    assert.deepEqual(pick(verifyRequest({ headers, rawBody: body, secrets: ['other'], now: () => NOW })), 'bad_signature');
    assert.deepEqual(pick(check(headers, body, NOW + 301_000)), 'stale_timestamp');
    assert.deepEqual(pick(check({ 'x-provisioner-timestamp': headers['x-provisioner-timestamp'] })), 'missing_signature');
    assert.deepEqual(pick(check({ ...headers, 'x-provisioner-signature': 'md5=abc' })), 'malformed_signature');
    assert.deepEqual(pick(verifyRequest({ headers, rawBody: body, secrets: [], now: () => NOW })), 'no_secrets');
  });

  it('reads workflow, tenant, step and attempt from the request headers (fetch Headers too)', () => {
    const h = new Headers({ 'idempotency-key': 'wf_1:create_bucket:2', 'x-provisioner-workflow': 'wf_1', 'x-provisioner-tenant': 't1' });
    assert.deepEqual(requestInfo(h), {
      workflowId: 'wf_1',
      tenantId: 't1',
      idempotencyKey: 'wf_1:create_bucket:2',
      step: 'create_bucket',
      attempt: '2',
    });
  });
});

function pick(r: ReturnType<typeof verifyRequest>): string {
  return r.ok ? 'ok' : r.reason;
}
