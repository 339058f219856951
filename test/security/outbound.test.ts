import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import {
  createOutbound,
  resolveOnOrigin,
  OutboundError,
  DEFAULT_MAX_RESPONSE_BYTES,
  signServiceRequest,
} from '../../src/engine/outbound.js';
import { renderRequestPath, TemplateError, type TemplateScope } from '../../src/domain/template.js';
import { testDialects } from '../support/runtime.js';
import { FAST_RETRY, manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilWorkflow } from '../support/engine.js';

/**
 * What the engine sends is bounded by the service's manifest, never by what a tenant parameter or a
 * service's answer says: the host stays the service's, answers are size-limited, calls time out, and
 * redirects do not leave the origin (issue 4, point 4).
 */
const HOSTILE_VALUES = [
  '../../admin',
  '..',
  '.',
  '%2e%2e',
  'http://evil.example',
  '//evil.example/x',
  'https://evil.example:443/',
  '@evil.example',
  'a/../../b',
  '?redirect=http://evil',
  '#frag',
  'evil.example\\..\\',
  '\u0000',
  ' ',
];

function scopeWith(name: string): TemplateScope {
  return {
    tenant: { id: 't1' },
    workflow: { id: 'wf_1', kind: 'provision' },
    service: { slug: 's', version: '1', base_url: 'http://svc.internal:9000/api' },
    parameters: { name },
    steps: {},
  };
}

/** Renders `/accounts/{{parameters.name}}` with a hostile value: a refusal or a URL on the service's origin and path. */
function resolveHostile(value: string): URL | 'refused' {
  try {
    const path = renderRequestPath('/accounts/{{parameters.name}}', scopeWith(value));
    return resolveOnOrigin(new URL('http://svc.internal:9000/api/'), path, { q: value });
  } catch (e) {
    if (e instanceof TemplateError || e instanceof OutboundError) return 'refused';
    throw e;
  }
}

describe('outbound requests stay on the service origin', () => {
  it('never lets a templated path value change the host, port or the base path', () => {
    for (const value of HOSTILE_VALUES) {
      const url = resolveHostile(value);
      if (url === 'refused') continue;
      assert.equal(url.origin, 'http://svc.internal:9000', value);
      assert.ok(url.pathname.startsWith('/api/accounts/'), `${value} → ${url.pathname}`);
      assert.equal(url.pathname.split('/').length, 4, `${value} stays one path segment: ${url.pathname}`);
    }
    assert.equal((resolveHostile('../../admin') as URL).pathname, '/api/accounts/..%2F..%2Fadmin', 'slashes are encoded: one segment');
    assert.equal((resolveHostile('http://evil.example') as URL).pathname, '/api/accounts/http%3A%2F%2Fevil.example');
    assert.equal(resolveHostile('..'), 'refused', 'a value that would be a dot segment is refused outright');
    assert.equal(
      (resolveHostile('%2e%2e') as URL).pathname,
      '/api/accounts/%252e%252e',
      'an encoded dot segment is encoded again, not decoded',
    );
  });

  it('keeps any string a template produces inside one path segment of the service (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
        const url = resolveHostile(value);
        if (url === 'refused') return;
        assert.equal(url.origin, 'http://svc.internal:9000');
        assert.ok(url.pathname.startsWith('/api/accounts/'));
        assert.equal(url.pathname.split('/').length, 4);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an absolute target on another origin, and paths that are protocol-relative', () => {
    const base = new URL('http://svc.internal:9000/');
    for (const target of [
      'http://evil.example/x',
      'https://svc.internal:9000/x',
      'http://svc.internal:9001/x',
      '//evil.example/x',
      'relative/x',
      'file:///etc/passwd',
    ]) {
      assert.throws(
        () => resolveOnOrigin(base, target),
        (e: unknown) => e instanceof OutboundError && !e.retryable,
        target,
      );
    }
    assert.equal(
      resolveOnOrigin(base, 'http://svc.internal:9000/poll/1').href,
      'http://svc.internal:9000/poll/1',
      'a poll URL on the origin is fine',
    );
  });
});

describe('outbound response limits, timeouts and redirects', () => {
  const send = (baseUrl: string, target: string, o: { timeoutMs?: number; maxResponseBytes?: number } = {}) =>
    createOutbound({
      baseUrl,
      timeoutMs: o.timeoutMs ?? 2000,
      signal: new AbortController().signal,
      headers: { 'idempotency-key': 'wf:s:1' },
      maxResponseBytes: o.maxResponseBytes,
    }).send({ method: 'POST', target, body: { a: 1 } });

  it('refuses a body over the limit whether or not it declares its length', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/declared', { body: 'x'.repeat(DEFAULT_MAX_RESPONSE_BYTES + 1) });
    // Streamed in chunks without Content-Length: the limit must hold while reading, not only up front.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'y'.repeat(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 40) {
          sent++;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
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

    await assert.rejects(
      send(sim.url, '/declared'),
      (e: unknown) => e instanceof OutboundError && !e.retryable && /over the 1048576-byte limit/.test(e.message),
    );
    await assert.rejects(
      send(`http://127.0.0.1:${port}`, '/streamed'),
      (e: unknown) => e instanceof OutboundError && !e.retryable && /over the 1048576-byte limit/.test(e.message),
    );
    sim.route('POST', '/small', { json: { ok: true } });
    assert.deepEqual((await send(sim.url, '/small')).json, { ok: true });
  });

  it('gives up on a service that never answers after the timeout, as a retryable error', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/hang', { hang: true });
    await assert.rejects(
      send(sim.url, '/hang', { timeoutMs: 150 }),
      (e: unknown) => e instanceof OutboundError && e.retryable && /no answer within 0.15 s/.test(e.message),
    );
  });

  it('follows a redirect within the origin and refuses one to another host without calling it', async (t) => {
    const sim = await simFor(t);
    const evil = await simFor(t);
    evil.route('POST', '/steal', { json: { stolen: true } });
    evil.route('GET', '/steal', { json: { stolen: true } });
    sim.route('POST', '/old', { status: 307, headers: { location: '/new' } });
    sim.route('POST', '/new', { json: { moved: true } });
    sim.route('POST', '/away', { status: 302, headers: { location: `${evil.url}/steal` } });
    sim.route('POST', '/loop', { status: 307, headers: { location: '/loop' } });

    const followed = await send(sim.url, '/old');
    assert.deepEqual(followed.json, { moved: true });
    const moved = sim.calls('POST', '/new')[0];
    assert.equal(moved.headers['idempotency-key'], 'wf:s:1', 'the followed request keeps its idempotency key');
    assert.deepEqual(moved.body, { a: 1 });

    await assert.rejects(
      send(sim.url, '/away'),
      (e: unknown) => e instanceof OutboundError && !e.retryable && /redirected to another host/.test(e.message),
    );
    await assert.rejects(send(sim.url, '/loop'), (e: unknown) => e instanceof OutboundError && /more than 3 redirects/.test(e.message));
    assert.equal(evil.requests.length, 0, 'the other host was never called');
  });

  it('turns a 303 into a GET without a body', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/create', { status: 303, headers: { location: '/result' } });
    sim.route('GET', '/result', { json: { done: true } });
    assert.deepEqual((await send(sim.url, '/create')).json, { done: true });
    const got = sim.calls('GET', '/result')[0];
    assert.equal(got.body, null);
    assert.equal(got.headers['content-type'], undefined);
  });

  it('aborts a request in flight when the worker stops, as a retryable error', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/hang', { hang: true });
    const stopping = new AbortController();
    const sent = createOutbound({ baseUrl: sim.url, timeoutMs: 5000, signal: stopping.signal, headers: {} }).send({
      method: 'POST',
      target: '/hang',
    });
    await sim.waitFor((r) => r.path === '/hang');
    stopping.abort();
    await assert.rejects(
      sent,
      (e: unknown) => e instanceof OutboundError && e.retryable && e.message === 'POST /hang: aborted (worker stopping)',
    );
  });

  it('reads the Location and Retry-After headers of an answer', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/busy', { status: 503, headers: { location: '/poll/1', 'retry-after': '7' } });
    const res = await send(sim.url, '/busy');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('Retry-After'), '7');
    assert.ok(res.retryAt !== null && res.retryAt > Date.now() + 5000);
  });
});

describe('signed requests to services', () => {
  const verify = (secret: string, r: { headers: Record<string, string>; body: unknown }) => {
    const ts = Number(r.headers['x-provisioner-timestamp']);
    const raw = r.body === null ? '' : JSON.stringify(r.body);
    return r.headers['x-provisioner-signature'] === `sha256=${createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex')}`;
  };

  it('signs every request with HMAC-SHA256 over "<timestamp>.<raw body>" when the service has a secret', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/accounts', { json: { id: 'a1' } });
    sim.route('DELETE', '/accounts/a1', { status: 204 });
    const http = createOutbound({
      baseUrl: sim.url,
      timeoutMs: 2000,
      signal: new AbortController().signal,
      headers: {},
      signingSecret: 'whsec_test',
    });
    await http.send({ method: 'POST', target: '/accounts', body: { tenant: 't1', note: 'é' } });
    await http.send({ method: 'DELETE', target: '/accounts/a1' });
    const [post, del] = sim.requests;
    assert.ok(Math.abs(Number(post.headers['x-provisioner-timestamp']) - Date.now() / 1000) < 60, 'a unix timestamp in seconds');
    assert.ok(verify('whsec_test', post), 'the POST signature verifies over its exact body');
    assert.ok(verify('whsec_test', del), 'a request without a body signs the empty string');
    assert.ok(!verify('another', post), 'another secret does not verify');
    assert.equal(
      signServiceRequest('k', 1700000000, '{"a":1}'),
      `sha256=${createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex')}`,
    );
  });

  it('sends no signature headers when the service has no secret', async (t) => {
    const sim = await simFor(t);
    sim.route('POST', '/accounts', { json: {} });
    await createOutbound({ baseUrl: sim.url, timeoutMs: 2000, signal: new AbortController().signal, headers: {} }).send({
      method: 'POST',
      target: '/accounts',
    });
    assert.equal(sim.requests[0].headers['x-provisioner-signature'], undefined);
  });
});

for (const dialect of testDialects()) {
  describe(`outbound safety in running workflows (${dialect})`, () => {
    const env = sharedRuntime(dialect);

    it('sends a hostile parameter inside one encoded path segment of the service, or refuses the step', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts/:name', { json: { ok: true } });
      const m = manifestFor(
        sim,
        [{ name: 'create', type: 'http', request: { path: '/accounts/{{parameters.name}}' }, retry: FAST_RETRY }],
        { on_failure: 'hold' },
      );
      await rt.registry.register(m);

      const absolute = await registerAndStart(rt, m, { register: false, parameters: { name: 'http://evil.example/x' } });
      const d1 = await untilWorkflow(rt, absolute.workflowId, 'completed');
      assert.equal(d1.status, 'completed');
      assert.equal(sim.calls('POST', '/accounts/:name')[0].path, '/accounts/http%3A%2F%2Fevil.example%2Fx');

      const traversal = await registerAndStart(rt, m, { register: false, parameters: { name: '../../admin' } });
      await untilWorkflow(rt, traversal.workflowId, 'completed');
      const sent = sim.requests.filter((r) => r.headers['x-provisioner-workflow'] === traversal.workflowId);
      assert.deepEqual(
        sent.map((r) => r.path),
        ['/accounts/..%2F..%2Fadmin'],
        'the value stayed one encoded segment',
      );

      const dots = await registerAndStart(rt, m, { register: false, parameters: { name: '..' } });
      const d3 = await untilWorkflow(rt, dots.workflowId, 'failed');
      assert.match(stepOf(d3, 'create').error ?? '', /\{\{parameters\.name\}\}.*would make a "\.\." path segment/);
      assert.equal(sim.requests.filter((r) => r.headers['x-provisioner-workflow'] === dots.workflowId).length, 0, 'nothing was sent');
      assert.equal(sim.requests.length, 2, 'every request went to the service, none elsewhere');
    });

    it('fails a step whose answer is over 1 MiB with an error naming the limit, without retrying', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/huge', { json: { blob: 'z'.repeat(DEFAULT_MAX_RESPONSE_BYTES) } });
      const m = manifestFor(sim, [{ name: 'fetch_blob', type: 'http', request: { path: '/huge' }, retry: FAST_RETRY }], {
        on_failure: 'hold',
      });
      const { workflowId } = await registerAndStart(rt, m);
      const d = await untilWorkflow(rt, workflowId, 'failed');
      assert.match(stepOf(d, 'fetch_blob').error ?? '', /POST \/huge: response body .*over the 1048576-byte limit/);
      assert.equal(sim.calls('POST', '/huge').length, 1, 'a refusal of ours is final');
    });

    it('times out a hanging service on every attempt and fails the step after its attempts', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/hang', { hang: true });
      const m = manifestFor(
        sim,
        [{ name: 'slow', type: 'http', request: { path: '/hang' }, timeout_s: 0.2, retry: { ...FAST_RETRY, max_attempts: 2 } }],
        { on_failure: 'hold' },
      );
      const { workflowId } = await registerAndStart(rt, m);
      const d = await untilWorkflow(rt, workflowId, 'failed');
      assert.equal(stepOf(d, 'slow').error, 'POST /hang: no answer within 0.2 s (gave up after 2 attempts)');
      assert.deepEqual(
        sim.calls('POST', '/hang').map((r) => r.headers['idempotency-key']),
        [`${workflowId}:slow:1`, `${workflowId}:slow:2`],
      );
    });

    it('fails a step redirected to another host and completes one redirected within the origin', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const evil = await simFor(t);
      evil.route('POST', '/steal', { json: { credentials: { stolen: 'yes' } } });
      sim.route('POST', '/away', { status: 307, headers: { location: `${evil.url}/steal` } });
      sim.route('POST', '/old', { status: 308, headers: { location: '/new' } });
      sim.route('POST', '/new', { json: { id: 'moved' } });
      const away = await registerAndStart(
        rt,
        manifestFor(sim, [{ name: 'go', type: 'http', request: { path: '/away' }, retry: FAST_RETRY }], { on_failure: 'hold' }),
      );
      const within = await registerAndStart(
        rt,
        manifestFor(sim, [{ name: 'go', type: 'http', request: { path: '/old' }, retry: FAST_RETRY }]),
      );

      const failed = await untilWorkflow(rt, away.workflowId, 'failed');
      assert.match(
        stepOf(failed, 'go').error ?? '',
        /redirected to another host \(http:\/\/127\.0\.0\.1:\d+\); redirects are only followed within/,
      );
      assert.equal(evil.requests.length, 0);
      const done = await untilWorkflow(rt, within.workflowId, 'completed');
      assert.deepEqual(stepOf(done, 'go').output, { id: 'moved' });
    });
  });
}
