// The simulated service the benchmarks provision against. It answers at once, so every figure measures
// the engine, not the service: http steps get their reply immediately, the callback step's callback is
// sent as soon as its request is answered (or after `callbackDelayMs`), and a poll answers `completed`
// on the first poll. Only node:http, like examples/simulator/files-service.ts.
//
// It also keeps the clock for the latency figure: the time from the moment a callback POST is sent (and
// from the moment it has been answered 200) to the moment the dependent step's request arrives here, all
// read on this process's monotonic clock, so no cross-process clock skew enters the figure.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { serveRpc } from './support/rpc.js';

/** Paths of the six steps (bench/manifest.ts) in DAG order. */
export const SIM_ROUTES = {
  account: '/accounts',  // http: the root
  bucket: '/buckets',    // callback: calls back to body.callback_url with body.callback_token
  dns: '/dns',           // http, parallel to bucket and index
  index: '/indexes',     // poll: 202 + Location; the first GET of it answers completed
  keys: '/keys',         // http: depends on bucket, dns and index (the join)
  notify: '/notify',     // http: the last step
} as const;
export type SimRoute = keyof typeof SIM_ROUTES | 'poll' | 'other';

/** The header Provisioner sends with every step request; the peer sends it too. */
export const WORKFLOW_HEADER = 'x-provisioner-workflow';

export interface SimOptions {
  host?: string;
  port?: number;
  /** Delay before the callback is sent, after the bucket request was answered (default 0: at once). */
  callbackDelayMs?: number;
}

export interface LatencyReport {
  /** Callback sent → the dependent step's request arrived here (ms): the engine's whole path, callback transaction included. */
  fromSent: number[];
  /** Callback answered 200 → the dependent step's request arrived here (ms); below zero when the step's request came first. */
  fromAnswered: number[];
  /** Workflows left out because the callback was not the last of the join's parents to finish here. */
  excluded: number;
}

export interface SimStats {
  counts: Record<SimRoute, number>;
  callbacksSent: number;
  callbackRetries: number;
  callbackFailures: number;
  cpuMs: number;
}

export interface SimService {
  url: string;
  configure(o: { callbackDelayMs?: number; recordLatency?: boolean }): void;
  /** Zeroes counters and latency records. */
  reset(): void;
  /** Resolves once `route` has been requested `count` times since the last reset. */
  waitFor(route: SimRoute, count: number, timeoutMs: number): Promise<void>;
  latency(): LatencyReport;
  stats(): SimStats;
  close(): Promise<void>;
}

interface Timeline {
  dnsAt?: number;
  pollDoneAt?: number;
  callbackSentAt?: number;
  callbackDoneAt?: number;
  keysAt?: number;
  /** While recording latency: the callback, held until both siblings of the bucket step have been answered. */
  heldCallback?: () => void;
}

const CALLBACK_ATTEMPTS = 5;
const CALLBACK_BACKOFF_MS = 20;

export async function startSimService(opts: SimOptions = {}): Promise<SimService> {
  const { host = '127.0.0.1', port = 0 } = opts;
  let callbackDelayMs = opts.callbackDelayMs ?? 0;
  let recordLatency = false;
  const emptyCounts = (): Record<SimRoute, number> => ({ account: 0, bucket: 0, dns: 0, index: 0, poll: 0, keys: 0, notify: 0, other: 0 });
  let counts = emptyCounts();
  let callbacksSent = 0;
  let callbackRetries = 0;
  let callbackFailures = 0;
  let timelines = new Map<string, Timeline>();
  const waiters = new Set<{ route: SimRoute; count: number; resolve: () => void }>();
  const closing = new AbortController();
  const cpuAtStart = process.cpuUsage();
  // Callbacks go out over kept-alive connections, as a real service's HTTP client would send them.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const timeline = (req: IncomingMessage): Timeline | null => {
    if (!recordLatency) return null;
    const wf = req.headers[WORKFLOW_HEADER];
    if (typeof wf !== 'string') return null;
    let t = timelines.get(wf);
    if (!t) timelines.set(wf, (t = {}));
    return t;
  };

  function count(route: SimRoute) {
    const n = ++counts[route];
    for (const w of waiters) if (w.route === route && n >= w.count) { waiters.delete(w); w.resolve(); }
  }

  function release(t: Timeline) {
    if (t.heldCallback && t.dnsAt !== undefined && t.pollDoneAt !== undefined) {
      const go = t.heldCallback;
      t.heldCallback = undefined;
      go();
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string) {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] as string;
    if (method === 'POST' && path === SIM_ROUTES.account) {
      count('account');
      return send(res, 201, { id: `acc_${randomBytes(6).toString('hex')}` });
    }
    if (method === 'POST' && path === SIM_ROUTES.bucket) {
      count('bucket');
      const b = parseObject(body);
      if (typeof b?.callback_url !== 'string' || typeof b.callback_token !== 'string') {
        return send(res, 400, { error: 'callback_url and callback_token are required strings' });
      }
      const t = timeline(req);
      const payload = JSON.stringify({ callback_token: b.callback_token, status: 'completed', endpoint: 'https://bench.example/bucket', metadata: { region: 'local-1' } });
      const url = b.callback_url;
      const schedule = () => {
        if (callbackDelayMs > 0) setTimeout(() => void deliverCallback(url, payload, t, 1), callbackDelayMs).unref();
        else setImmediate(() => void deliverCallback(url, payload, t, 1));
      };
      // Sent once this answer has left, so the callback follows the reply as a real service's would.
      // When recording latency, it also waits for the two sibling steps (then `callbackDelayMs` more,
      // for the engine to record them), so that the callback is what completes the join.
      res.once('finish', () => {
        if (t) { t.heldCallback = schedule; release(t); } else schedule();
      });
      return send(res, 202, { status: 'creating' });
    }
    if (method === 'POST' && path === SIM_ROUTES.dns) {
      count('dns');
      send(res, 200, { record: 'bench.example' });
      const t = timeline(req);
      if (t) { t.dnsAt = performance.now(); release(t); }
      return;
    }
    if (method === 'POST' && path === SIM_ROUTES.index) {
      count('index');
      const id = `idx_${randomBytes(6).toString('hex')}`;
      return send(res, 202, { id, poll_url: `${SIM_ROUTES.index}/${id}` }, { location: `${SIM_ROUTES.index}/${id}` });
    }
    if (method === 'GET' && path.startsWith(`${SIM_ROUTES.index}/`)) {
      count('poll');
      send(res, 200, { status: 'completed', metadata: { documents: 0 } });
      const t = timeline(req);
      if (t) { t.pollDoneAt = performance.now(); release(t); }
      return;
    }
    if (method === 'POST' && path === SIM_ROUTES.keys) {
      const t = timeline(req);
      if (t) t.keysAt = performance.now();
      count('keys');
      return send(res, 201, { id: `key_${randomBytes(6).toString('hex')}`, endpoint: 'https://bench.example/' });
    }
    if (method === 'POST' && path === SIM_ROUTES.notify) {
      count('notify');
      return send(res, 200, { ok: true });
    }
    count('other');
    return send(res, 404, { error: `no route for ${method} ${path}` });
  }

  // Retried on network errors, 429 and 5xx (a real service's delivery loop); a 4xx other than 429 is final.
  async function deliverCallback(url: string, payload: string, t: Timeline | null, attempt: number): Promise<void> {
    if (closing.signal.aborted) return;
    if (t) t.callbackSentAt = performance.now();
    callbacksSent++;
    let status: number;
    try {
      status = await post(url, payload);
    } catch {
      status = 0;
    }
    if (status >= 200 && status < 300) {
      if (t) t.callbackDoneAt = performance.now();
      return;
    }
    if ((status === 0 || status === 429 || status >= 500) && attempt < CALLBACK_ATTEMPTS && !closing.signal.aborted) {
      callbackRetries++;
      setTimeout(() => void deliverCallback(url, payload, t, attempt + 1), CALLBACK_BACKOFF_MS * 2 ** (attempt - 1)).unref();
      return;
    }
    callbackFailures++;
  }

  function post(url: string, payload: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const r = request(url, {
        method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        signal: AbortSignal.any([closing.signal, AbortSignal.timeout(10_000)]),
      }, (res) => { res.resume(); res.once('end', () => resolve(res.statusCode ?? 0)); });
      r.once('error', reject);
      r.end(payload);
    });
  }

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => handle(req, res, chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8')));
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;

  return {
    url: `http://${host}:${boundPort}`,
    configure(o) {
      if (o.callbackDelayMs !== undefined) callbackDelayMs = o.callbackDelayMs;
      if (o.recordLatency !== undefined) recordLatency = o.recordLatency;
    },
    reset() {
      counts = emptyCounts();
      callbacksSent = 0; callbackRetries = 0; callbackFailures = 0;
      timelines = new Map();
    },
    waitFor(route, n, timeoutMs) {
      if (counts[route] >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { route, count: n, resolve: () => { clearTimeout(timer); resolve(); } };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} ${route} requests (saw ${counts[route]}; counts ${JSON.stringify(counts)})`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    latency() {
      const r: LatencyReport = { fromSent: [], fromAnswered: [], excluded: 0 };
      for (const t of timelines.values()) {
        if (t.keysAt === undefined || t.callbackSentAt === undefined) continue;
        // Only a callback that finished the join measures "callback → next step"; otherwise the
        // completion of another parent started the dependent step.
        const gate = t.dnsAt !== undefined && t.pollDoneAt !== undefined && t.dnsAt < t.callbackSentAt && t.pollDoneAt < t.callbackSentAt;
        if (!gate) { r.excluded++; continue; }
        r.fromSent.push(t.keysAt - t.callbackSentAt);
        if (t.callbackDoneAt !== undefined) r.fromAnswered.push(t.keysAt - t.callbackDoneAt);
      }
      return r;
    },
    stats() {
      const cpu = process.cpuUsage(cpuAtStart);
      return { counts: { ...counts }, callbacksSent, callbackRetries, callbackFailures, cpuMs: (cpu.user + cpu.system) / 1000 };
    },
    async close() {
      closing.abort();
      agent.destroy();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

function send(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}) {
  const body = JSON.stringify(json);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // answered 400 by the caller
  }
}

/** The API bench/run.ts drives over IPC when this file runs as its own process. */
export type SimApi = {
  start(a: { port?: number }): Promise<{ url: string; pid: number }>;
  configure(a: { callbackDelayMs?: number; recordLatency?: boolean }): Promise<void>;
  reset(a: null): Promise<void>;
  waitFor(a: { route: SimRoute; count: number; timeoutMs: number }): Promise<void>;
  latency(a: null): Promise<LatencyReport>;
  stats(a: null): Promise<SimStats>;
  close(a: null): Promise<void>;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let sim: SimService | null = null;
  const need = () => { if (!sim) throw new Error('call start first'); return sim; };
  const api: SimApi = {
    async start({ port }) { sim ??= await startSimService({ port }); return { url: sim.url, pid: process.pid }; },
    async configure(o) { need().configure(o); },
    async reset() { need().reset(); },
    waitFor: ({ route, count: n, timeoutMs }) => need().waitFor(route, n, timeoutMs),
    async latency() { return need().latency(); },
    async stats() { return need().stats(); },
    async close() { await sim?.close(); setImmediate(() => process.exit(0)); },
  };
  serveRpc(api);
}
