import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { startApi, tenantAdmin, tenantReader, type ApiHarness } from '../support/api.js';
import { eventually, testConfig, testDialects } from '../support/runtime.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { createLogger } from '../../src/runtime.js';
import { ConfigError } from '../../src/config.js';
import { noopTracer, createTracer } from '../../src/tracing/tracer.js';
import { createOtlpExporter } from '../../src/tracing/otlp-exporter.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../src/tracing/ids.js';

type AttrValue = string | boolean | number;
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: number; message?: string };
  attrs: Record<string, AttrValue>;
}
interface Export {
  path: string;
  headers: IncomingHttpHeaders;
  body: any /* OTLP JSON as posted */;
}

/** An OTLP/HTTP collector on loopback that keeps every POSTed JSON body. */
async function startCollector() {
  const exports: Export[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    spans(): ReceivedSpan[] {
      return exports.flatMap((e) =>
        e.body.resourceSpans.flatMap((rs: any) =>
          rs.scopeSpans.flatMap((ss: any) =>
            ss.spans.map((s: any) => ({
              ...s,
              attrs: Object.fromEntries(
                s.attributes.map((a: any) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue]),
              ),
            })),
          ),
        ),
      );
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: bound once, then released. */
async function closedPortUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
let seq = 0;

/** Two chained http steps against the simulated service. */
async function registerService(h: ApiHarness, sim: ServiceSim): Promise<string> {
  const slug = `traced-${process.pid}-${++seq}`;
  sim.route('POST', '/accounts', { status: 201, json: { id: 'acc_1' } });
  sim.route('POST', '/keys', { status: 200, json: { key_id: 'k_1' } });
  await h.rt.registry.register({
    slug,
    name: 'Traced',
    version: '1.0.0',
    base_url: sim.url,
    provision: [
      { name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts' } },
      { name: 'issue_keys', type: 'http', depends_on: ['create_account'], request: { method: 'POST', path: '/keys' } },
    ],
  });
  return slug;
}

async function runToCompletion(h: ApiHarness, slug: string, tenant: string, headers: Record<string, string> = {}) {
  const start = await h.call({
    method: 'POST',
    url: '/api/v1/provisioning/workflows',
    as: tenantAdmin(tenant),
    headers,
    payload: { service_slug: slug },
  });
  assert.equal(start.status, 201, JSON.stringify(start.json));
  const id = start.json.data.id as string;
  await eventually(
    `workflow ${id} to complete`,
    async () =>
      (await h.call({ method: 'GET', url: `/api/v1/provisioning/workflows/${id}`, as: tenantReader(tenant) })).json.data.status ===
      'completed',
  );
  return { id, requestId: start.headers['x-request-id'] as string };
}

for (const dialect of testDialects()) {
  describe(`tracing (${dialect})`, () => {
    it('exports an API span, step-attempt spans and outbound spans in one trace, and sends services the outbound span as traceparent', async () => {
      const collector = await startCollector();
      const sim = await startServiceSim();
      const h = await startApi(dialect, {
        OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/`,
        OTEL_SERVICE_NAME: 'prov-under-test',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k%3D1, x-team=ops',
      });
      let workflowId = '';
      let requestId = '';
      try {
        assert.equal(h.rt.tracer.enabled, true);
        const slug = await registerService(h, sim);
        ({ id: workflowId, requestId } = await runToCompletion(h, slug, 'acme'));
      } finally {
        await h.close(); // flushes the exporter
        await sim.close();
        await collector.close();
      }

      // The wire format: POST {endpoint}/v1/traces, JSON, configured headers, the service name.
      assert.ok(collector.exports.length >= 1);
      for (const e of collector.exports) {
        assert.equal(e.path, '/v1/traces');
        assert.equal(e.headers['content-type'], 'application/json');
        assert.equal(e.headers['x-api-key'], 'k=1', 'header values are percent-decoded');
        assert.equal(e.headers['x-team'], 'ops');
        assert.deepEqual(e.body.resourceSpans[0].resource.attributes, [{ key: 'service.name', value: { stringValue: 'prov-under-test' } }]);
      }
      const spans = collector.spans();
      for (const s of spans) {
        assert.match(s.traceId, HEX32);
        assert.match(s.spanId, HEX16);
        assert.match(s.startTimeUnixNano, /^\d{19}$/);
        assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), `${s.name} ends after it starts`);
      }

      const api = spans.find((s) => s.name === 'POST /api/v1/provisioning/workflows');
      assert.ok(api, `an API span; got ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(api.kind, 2, 'server');
      assert.equal(api.parentSpanId, undefined, 'no incoming traceparent: a new trace');
      assert.equal(api.attrs['http.request.method'], 'POST');
      assert.equal(api.attrs['http.route'], '/api/v1/provisioning/workflows');
      assert.equal(api.attrs['http.response.status_code'], '201');
      assert.equal(api.attrs['provisioner.request_id'], requestId);
      assert.equal(api.attrs['provisioner.tenant_id'], 'acme');
      assert.equal(api.status.code, 0);

      const stepSpans = spans.filter((s) => s.name.startsWith('step '));
      assert.deepEqual(stepSpans.map((s) => s.name).sort(), ['step http create_account', 'step http issue_keys']);
      for (const step of stepSpans) {
        assert.equal(step.kind, 1, 'internal');
        assert.equal(step.traceId, api.traceId, 'the same trace as the request that started the workflow');
        assert.equal(step.parentSpanId, api.spanId, 'a child of that request');
        assert.equal(step.attrs['provisioner.workflow_id'], workflowId);
        assert.equal(step.attrs['provisioner.tenant_id'], 'acme');
        assert.equal(step.attrs['provisioner.attempt'], '1');
        assert.equal(step.attrs['provisioner.trigger'], 'attempt');
        assert.equal(step.attrs['provisioner.outcome'], 'completed');
        assert.equal(step.attrs['provisioner.step'], step.name.split(' ')[2]);
      }

      const outbound = spans.filter((s) => s.kind === 3);
      assert.equal(outbound.length, 2, 'one client span per request');
      for (const [stepName, path, status] of [
        ['create_account', '/accounts', '201'],
        ['issue_keys', '/keys', '200'],
      ]) {
        const parent = stepSpans.find((s) => s.attrs['provisioner.step'] === stepName);
        const call = outbound.find((s) => s.attrs['url.path'] === path);
        assert.ok(parent && call, path);
        assert.equal(call.traceId, api.traceId);
        assert.equal(call.parentSpanId, parent.spanId, `${path} is a child of the ${stepName} attempt`);
        assert.equal(call.name, 'POST');
        assert.equal(call.attrs['http.request.method'], 'POST');
        assert.equal(call.attrs['http.response.status_code'], status);

        // The service got the client span's context, so its own spans join the trace under that call.
        const received = sim.calls('POST', path);
        assert.equal(received.length, 1);
        assert.equal(received[0].headers.traceparent, `00-${api.traceId}-${call.spanId}-01`);
      }
    });

    it('continues the trace of an incoming traceparent, and starts a new one when it is malformed', async () => {
      const collector = await startCollector();
      const sim = await startServiceSim();
      const h = await startApi(dialect, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
      const incoming = { traceId: newTraceId(), spanId: newSpanId() };
      try {
        const slug = await registerService(h, sim);
        await runToCompletion(h, slug, 'globex', { traceparent: formatTraceparent(incoming) });
        const list = await h.call({
          method: 'GET',
          url: '/api/v1/provisioning/workflows',
          as: tenantReader('globex'),
          headers: { traceparent: `00-${'0'.repeat(32)}-${incoming.spanId}-01` },
        });
        assert.equal(list.status, 200);
      } finally {
        await h.close();
        await sim.close();
        await collector.close();
      }
      const spans = collector.spans();
      const start = spans.find((s) => s.name === 'POST /api/v1/provisioning/workflows');
      assert.ok(start);
      assert.equal(start.traceId, incoming.traceId);
      assert.equal(start.parentSpanId, incoming.spanId);
      for (const s of spans.filter((x) => x.name.startsWith('step ') || x.kind === 3))
        assert.equal(s.traceId, incoming.traceId, `${s.name} stays in the caller's trace`);
      for (const r of sim.requests) assert.match(r.headers.traceparent, new RegExp(`^00-${incoming.traceId}-[0-9a-f]{16}-01$`));

      const list = spans.find((s) => s.name === 'GET /api/v1/provisioning/workflows');
      assert.ok(list);
      assert.notEqual(list.traceId, '0'.repeat(32));
      assert.notEqual(list.traceId, incoming.traceId);
      assert.equal(list.parentSpanId, undefined, 'an all-zero trace id is invalid: a new trace starts');
    });

    it('leaves probes and /metrics untraced, and names an unmatched request by its method only', async () => {
      const collector = await startCollector();
      const h = await startApi(dialect, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
      try {
        for (const url of ['/healthz', '/readyz', '/metrics', '/no/such/page']) await h.call({ method: 'GET', url });
      } finally {
        await h.close();
        await collector.close();
      }
      const spans = collector.spans();
      assert.deepEqual(
        spans.map((s) => s.name),
        ['GET'],
      );
      assert.equal(spans[0].attrs['http.response.status_code'], '404');
      assert.equal(spans[0].attrs['http.route'], undefined);
    });

    it('creates no exporter and makes no request while OTEL_EXPORTER_OTLP_ENDPOINT is unset', async () => {
      const collector = await startCollector();
      const sim = await startServiceSim();
      const h = await startApi(dialect);
      try {
        assert.equal(h.rt.config.tracing.endpoint, null);
        assert.equal(h.rt.tracer, noopTracer, 'the no-op tracer: nothing buffered, no timer');
        const slug = await registerService(h, sim);
        await runToCompletion(h, slug, 'initech', { traceparent: formatTraceparent({ traceId: newTraceId(), spanId: newSpanId() }) });
        assert.deepEqual(h.rt.tracer.stats(), { exported: 0, dropped: 0 });
        for (const r of sim.requests) assert.equal(r.headers.traceparent, undefined, 'services get no traceparent');
      } finally {
        await h.close();
        await sim.close();
        await collector.close();
      }
      assert.equal(collector.exports.length, 0);
    });

    it('completes the workflow while the collector is down, dropping the spans with a counted warning', async () => {
      const sim = await startServiceSim();
      const lines: string[] = [];
      const log = createLogger(
        'warn',
        new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      );
      const h = await startApi(dialect, { OTEL_EXPORTER_OTLP_ENDPOINT: await closedPortUrl() }, { log });
      try {
        const slug = await registerService(h, sim);
        await runToCompletion(h, slug, 'umbrella');
      } finally {
        await h.close(); // the flush on close fails too, and close still resolves
        await sim.close();
      }
      const stats = h.rt.tracer.stats();
      assert.equal(stats.exported, 0);
      assert.ok(stats.dropped >= 5, `API, step and outbound spans dropped (got ${stats.dropped})`);
      const warnings = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'trace export failed; spans dropped (the engine is not affected)');
      assert.ok(warnings.length >= 1, 'a warning says spans were dropped');
      assert.ok(Number(warnings[0].dropped_spans) >= 1);
      assert.equal(warnings[0].reason, 'ECONNREFUSED');
    });
  });
}

describe('trace context and export', () => {
  it('parses a valid traceparent and rejects malformed ones (all-zero ids, version ff, upper case, wrong lengths)', () => {
    const t = newTraceId();
    const s = newSpanId();
    assert.deepEqual(parseTraceparent(`00-${t}-${s}-01`), { traceId: t, spanId: s });
    assert.deepEqual(parseTraceparent(`00-${t}-${s}-00`), { traceId: t, spanId: s }, 'an unsampled parent is still continued');
    assert.deepEqual(
      parseTraceparent(`01-${t}-${s}-01-future`),
      { traceId: t, spanId: s },
      'a later version is read by its version-00 fields',
    );
    for (const bad of [
      `00-${'0'.repeat(32)}-${s}-01`,
      `00-${t}-${'0'.repeat(16)}-01`,
      `ff-${t}-${s}-01`,
      `00-${t.toUpperCase()}-${s}-01`,
      `00-${t.slice(1)}-${s}-01`,
      `00-${t}-${s}-01-extra`,
      `00-${t}-${s}`,
      '',
      undefined,
    ]) {
      assert.equal(parseTraceparent(bad), null, String(bad));
    }
    assert.match(formatTraceparent({ traceId: t, spanId: s }), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('posts a batch as soon as it is full, and what is left on close', async () => {
    const collector = await startCollector();
    const warnings: object[] = [];
    const tracer = createTracer(
      createOtlpExporter({
        endpoint: collector.url,
        serviceName: 'batch-test',
        log: { warn: (f) => warnings.push(f) },
        maxBatch: 2,
        intervalMs: 60_000,
      }),
    );
    try {
      const root = tracer.startSpan('root', { kind: 'server', attributes: { n: 1, ok: true, ratio: 0.5, none: null } });
      tracer.startSpan('child-1', { parent: root }).end();
      root.end();
      await eventually('the full batch to be posted', async () => collector.exports.length === 1);
      tracer.startSpan('child-2', { parent: root }).end();
      assert.equal(collector.exports.length, 1, 'a partial batch waits for the interval or close');
      await tracer.close();
      assert.equal(collector.exports.length, 2);
      const [a, b] = collector.spans().filter((x) => x.name !== 'child-1');
      assert.deepEqual(a.attrs, { n: '1', ok: true, ratio: 0.5 }, 'int as a decimal string, bools and doubles as such, nulls left out');
      assert.equal(b.parentSpanId, a.spanId);
      assert.deepEqual(tracer.stats(), { exported: 3, dropped: 0 });
      tracer.startSpan('late').end();
      assert.deepEqual(tracer.stats(), { exported: 3, dropped: 1 }, 'spans ended after close are dropped');
      assert.deepEqual(warnings, []);
    } finally {
      await collector.close();
    }
  });

  it('reads the OpenTelemetry variables, and refuses a bad endpoint or header list naming the variable but no header value', () => {
    const c = testConfig('sqlite::memory:', {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc',
    });
    assert.deepEqual(c.tracing, {
      endpoint: 'https://otel.example.com:4318',
      serviceName: 'provisioner',
      headers: { authorization: 'Bearer abc' },
    });
    assert.equal(testConfig('sqlite::memory:').tracing.endpoint, null);
    assert.throws(
      () => testConfig('sqlite::memory:', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('OTEL_EXPORTER_OTLP_ENDPOINT=')),
    );
    assert.throws(
      () => testConfig('sqlite::memory:', { OTEL_EXPORTER_OTLP_HEADERS: 'api-key=%E0%A4%A-secret-value' }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.includes('"api-key"')) && !e.message.includes('secret-value'),
    );
  });
});
