import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { parseCidrList, refusalFor } from '../../src/domain/network-policy.js';
import { createPolicyDispatcher, OPEN_POLICY, urlRefusal } from '../../src/engine/outbound-policy.js';
import { createOutbound, OutboundError } from '../../src/engine/outbound.js';
import { postWebhook, WEBHOOK_ERROR_BYTES, WebhookTransportError } from '../../src/engine/webhook-sender.js';
import { startApi, ADMIN, REGISTRAR, type ApiHarness } from '../support/api.js';
import { testDialects } from '../support/runtime.js';
import { simFor } from '../support/engine.js';

const policy = (allow = '', deny = '') => ({ allow: parseCidrList(allow).cidrs, deny: parseCidrList(deny).cidrs });

/** Issue 11 findings 7 and 9: no request leaves for link-local or cloud-metadata addresses, however it is spelled. */
describe('outbound network policy', () => {
  it('refuses link-local and cloud-metadata addresses by default and allows loopback and private ranges', () => {
    const table: [string, boolean][] = [
      ['169.254.169.254', false],
      ['169.254.0.1', false],
      ['fe80::1', false],
      ['fd00:ec2::254', false],
      ['100.100.100.200', false],
      ['::ffff:169.254.169.254', false],
      ['0.0.0.0', false],
      ['127.0.0.1', true],
      ['::1', true],
      ['10.1.2.3', true],
      ['192.168.0.10', true],
      ['172.16.0.1', true],
      ['93.184.216.34', true],
      ['2001:db8::1', true],
    ];
    for (const [addr, allowed] of table) assert.equal(refusalFor(addr, OPEN_POLICY) === null, allowed, addr);
  });

  it('applies PROVISIONER_OUTBOUND_DENY and PROVISIONER_OUTBOUND_ALLOW on top of the built-in refusals', () => {
    assert.match(refusalFor('10.9.9.9', policy('', '10.0.0.0/8')) ?? '', /PROVISIONER_OUTBOUND_DENY \(10\.0\.0\.0\/8\)/);
    assert.match(refusalFor('8.8.8.8', policy('10.0.0.0/8,127.0.0.0/8')) ?? '', /not in PROVISIONER_OUTBOUND_ALLOW/);
    assert.equal(refusalFor('127.0.0.1', policy('10.0.0.0/8,127.0.0.0/8')), null);
    assert.notEqual(refusalFor('169.254.169.254', policy('0.0.0.0/0')), null, 'an allow list cannot open the metadata range');
    assert.deepEqual(parseCidrList('10.0.0.0/8, nonsense ,fd00::/8,1.2.3.4/33').bad, ['nonsense', '1.2.3.4/33']);
  });

  it('checks a URL at registration by its literal address and by what its name resolves to', async () => {
    assert.match((await urlRefusal('http://169.254.169.254/latest/meta-data', OPEN_POLICY)) ?? '', /cloud-metadata/);
    assert.match((await urlRefusal('http://[fd00:ec2::254]/', OPEN_POLICY)) ?? '', /cloud-metadata/);
    assert.equal(await urlRefusal('http://127.0.0.1:9000', OPEN_POLICY), null);
    assert.match(
      (await urlRefusal('http://localhost:9000', policy('', '127.0.0.0/8,::1/128'))) ?? '',
      /localhost resolves to .*PROVISIONER_OUTBOUND_DENY/,
    );
  });

  it('refuses at connect time, after DNS, without retrying', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/a', { json: { ok: true } });
    const port = new URL(sim.url).port;
    const dispatcher = createPolicyDispatcher(policy('', '127.0.0.0/8,::1/128'));
    t.after(() => dispatcher.close());
    for (const base of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const http = createOutbound({ baseUrl: base, timeoutMs: 2000, signal: new AbortController().signal, headers: {}, dispatcher });
      await assert.rejects(
        http.send({ method: 'POST', target: '/a' }),
        (e: unknown) => e instanceof OutboundError && !e.retryable && /refusing to connect/.test(e.message),
        base,
      );
    }
    assert.equal(sim.requests.length, 0, 'nothing reached the service');
    const open = createOutbound({ baseUrl: sim.url, timeoutMs: 2000, signal: new AbortController().signal, headers: {} });
    assert.equal((await open.send({ method: 'POST', target: '/a' })).status, 200, 'loopback is allowed by default');
  });

  it('reads at most a small part of a failed webhook answer, and names no URL in its errors', async (t) => {
    const server = createServer((_req, res) => {
      res.writeHead(500);
      res.end('e'.repeat(2 * 1024 * 1024));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const port = (server.address() as { port: number }).port;
    const post = (url: string) =>
      postWebhook({ targetUrl: url, body: '{}', headers: {}, signal: new AbortController().signal, timeoutMs: 2000 });
    const res = await post(`http://127.0.0.1:${port}/hook?token=abc`);
    assert.equal(res.status, 500);
    assert.ok(res.text.length <= WEBHOOK_ERROR_BYTES, `read ${res.text.length} bytes`);
    await assert.rejects(
      post('http://127.0.0.1:1/hook?token=s3cret'),
      (e: unknown) => e instanceof WebhookTransportError && !/s3cret|127\.0\.0\.1:1/.test(e.message) && /ECONNREFUSED/.test(e.message),
    );
    await assert.rejects(post('http://169.254.169.254/hook'), (e: unknown) => e instanceof WebhookTransportError && e.policy);
  });
});

for (const dialect of testDialects()) {
  describe(`network policy at registration (${dialect})`, () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi(dialect, {}, { executor: false, webhooks: false });
    });
    after(async () => {
      await api.close();
    });

    it('refuses a base_url on a link-local or metadata address with 422 naming base_url, and registers nothing', async () => {
      for (const base of ['http://169.254.169.254', 'http://[fd00:ec2::254]:80', 'http://100.100.100.200/api', 'http://[fe80::1]:8080']) {
        const r = await api.call({
          method: 'PUT',
          url: '/api/v1/registry/register',
          as: REGISTRAR,
          payload: {
            slug: 'meta',
            name: 'm',
            version: '1',
            base_url: base,
            provision: [{ name: 'a', type: 'http', request: { path: '/a' } }],
          },
        });
        assert.equal(r.status, 422, `${base}: ${r.body}`);
        assert.deepEqual(r.json.detail[0].loc, ['body', 'base_url']);
      }
      const list = await api.call({ method: 'GET', url: '/api/v1/registry/services', as: ADMIN });
      assert.ok(!list.json.data.some((s: { slug: string }) => s.slug === 'meta'));
    });

    it('refuses webhook targets with user:password@ or on a metadata address', async () => {
      const sub = (target_url: string) =>
        api.call({
          method: 'POST',
          url: '/api/v1/admin/webhook-subscriptions',
          as: ADMIN,
          payload: { target_url, secret: 's'.repeat(40), topics: ['provisioning.workflow.*'] },
        });
      const creds = await sub('https://user:hunter2@hooks.example.com/in');
      assert.equal(creds.status, 422);
      assert.deepEqual(creds.json.detail[0].loc, ['body', 'target_url']);
      assert.match(creds.json.detail[0].msg, /user:password@/);
      assert.ok(!creds.body.includes('hunter2'), 'the password is not echoed');
      assert.equal((await sub('http://169.254.169.254/latest')).status, 422);
      assert.equal((await sub('http://127.0.0.1:9/hook')).status, 201, 'loopback stays allowed');
    });
  });
}
