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
  account: '/accounts', // http: the root
  bucket: '/buckets', // callback: calls back to body.callback_url with body.callback_token
  dns: '/dns', // http, parallel to bucket and index
  index: '/indexes', // poll: 202 + Location; the first GET of it answers completed
  keys: '/keys', // http: depends on bucket, dns and index (the join)
  notify: '/notify', // http: the last step
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
  /** Callback POSTs sent, retries included. */
  callbacksSent: number;
  callbackRetries: number;
  /** Callback POSTs Provisioner refused with 429 (its callback rate limit). */
  callbacks429: number;
  /** Callbacks given up after CALLBACK_ATTEMPTS attempts (or a final 4xx): their workflows wait until the step's wait expires. */
  callbackFailures: number;
  /** Callbacks not yet delivered nor given up (in flight or waiting to retry). */
  callbacksPending: number;
  cpuMs: number;
}

/** Step requests over time (first request of each step; polls and unknown routes left out). */
export interface SteadyState {
  /** Step requests the run should produce, and how many arrived. */
  expected: number;
  received: number;
  /** Whether the window's upper mark (`to` of `expected`) was reached; if not, the window is over what arrived. */
  complete: boolean;
  /** The window, in seconds since the first step request: from the request that made `from` of the total to the one that made `to`. */
  fromS: number;
  toS: number;
  steps: number;
  stepsPerS: number;
  /** First → last step request, all of them. */
  wholeS: number;
  wholeStepsPerS: number;
  /** Step requests per second of the run, from the first one. */
  perSecond: number[];
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
  /**
   * Resolves once `route` has been requested `count` times, or once the run has stalled (no step request
   * for `stallMs` and no callback left to deliver: the rest wait on refused callbacks), or after `timeoutMs`.
   */
  waitSettled(route: SimRoute, count: number, stallMs: number, timeoutMs: number): Promise<{ reached: boolean; why: string }>;
  /** The step-request rate between the `from` and `to` fractions of `expected` step requests (warm-up and drain left out). */
  steady(expected: number, from: number, to: number): SteadyState;
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

/** A real service's delivery loop: a few attempts, honouring Retry-After, then it gives up (and logs). */
const CALLBACK_ATTEMPTS = 5;
const CALLBACK_BACKOFF_MS = 20;
const STEP_ROUTES: ReadonlySet<SimRoute> = new Set(['account', 'bucket', 'dns', 'index', 'keys', 'notify']);

export async function startSimService(opts: SimOptions = {}): Promise<SimService> {
  const { host = '127.0.0.1', port = 0 } = opts;
  let callbackDelayMs = opts.callbackDelayMs ?? 0;
  let recordLatency = false;
  const emptyCounts = (): Record<SimRoute, number> => ({ account: 0, bucket: 0, dns: 0, index: 0, poll: 0, keys: 0, notify: 0, other: 0 });
  let counts = emptyCounts();
  let callbacksSent = 0;
  let callbackRetries = 0;
  let callbackFailures = 0;
  let callbacks429 = 0;
  let callbacksPending = 0;
  let stepArrivals: number[] = [];
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
    if (STEP_ROUTES.has(route)) stepArrivals.push(performance.now());
    for (const w of waiters)
      if (w.route === route && n >= w.count) {
        waiters.delete(w);
        w.resolve();
      }
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
      const payload = JSON.stringify({
        callback_token: b.callback_token,
        status: 'completed',
        endpoint: 'https://bench.example/bucket',
        metadata: { region: 'local-1' },
      });
      const url = b.callback_url;
      const schedule = () => {
        callbacksPending++;
        if (callbackDelayMs > 0) setTimeout(() => void deliverCallback(url, payload, t, 1), callbackDelayMs).unref();
        else setImmediate(() => void deliverCallback(url, payload, t, 1));
      };
      // Sent once this answer has left, so the callback follows the reply as a real service's would.
      // When recording latency, it also waits for the two sibling steps (then `callbackDelayMs` more,
      // for the engine to record them), so that the callback is what completes the join.
      res.once('finish', () => {
        if (t) {
          t.heldCallback = schedule;
          release(t);
        } else schedule();
      });
      return send(res, 202, { status: 'creating' });
    }
    if (method === 'POST' && path === SIM_ROUTES.dns) {
      count('dns');
      send(res, 200, { record: 'bench.example' });
      const t = timeline(req);
      if (t) {
        t.dnsAt = performance.now();
        release(t);
      }
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
      if (t) {
        t.pollDoneAt = performance.now();
        release(t);
      }
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

  // Retried on network errors, 429 and 5xx (a real service's delivery loop), after Retry-After when the
  // answer gives one; a 4xx other than 429 is final.
  async function deliverCallback(url: string, payload: string, t: Timeline | null, attempt: number): Promise<void> {
    if (closing.signal.aborted) return;
    if (t) t.callbackSentAt = performance.now();
    callbacksSent++;
    let status: number;
    let retryAfterS: number | null = null;
    try {
      ({ status, retryAfterS } = await post(url, payload));
    } catch {
      status = 0;
    }
    if (status === 429) callbacks429++;
    if (status >= 200 && status < 300) {
      if (t) t.callbackDoneAt = performance.now();
      callbacksPending--;
      return;
    }
    if ((status === 0 || status === 429 || status >= 500) && attempt < CALLBACK_ATTEMPTS && !closing.signal.aborted) {
      callbackRetries++;
      const backoff = CALLBACK_BACKOFF_MS * 2 ** (attempt - 1);
      setTimeout(
        () => void deliverCallback(url, payload, t, attempt + 1),
        retryAfterS !== null ? retryAfterS * 1000 + Math.random() * 200 : backoff,
      ).unref();
      return;
    }
    callbacksPending--;
    callbackFailures++;
  }

  function post(url: string, payload: string): Promise<{ status: number; retryAfterS: number | null }> {
    return new Promise((resolve, reject) => {
      const r = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          signal: AbortSignal.any([closing.signal, AbortSignal.timeout(10_000)]),
        },
        (res) => {
          const ra = Number(res.headers['retry-after']);
          res.resume();
          res.once('end', () => resolve({ status: res.statusCode ?? 0, retryAfterS: Number.isFinite(ra) && ra >= 0 ? ra : null }));
        },
      );
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
      callbacksSent = 0;
      callbackRetries = 0;
      callbackFailures = 0;
      callbacks429 = 0;
      stepArrivals = [];
      timelines = new Map();
    },
    waitFor(route, n, timeoutMs) {
      if (counts[route] >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = {
          route,
          count: n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${n} ${route} requests (saw ${counts[route]}; counts ${JSON.stringify(counts)})`,
            ),
          );
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
        if (!gate) {
          r.excluded++;
          continue;
        }
        r.fromSent.push(t.keysAt - t.callbackSentAt);
        if (t.callbackDoneAt !== undefined) r.fromAnswered.push(t.keysAt - t.callbackDoneAt);
      }
      return r;
    },
    stats() {
      const cpu = process.cpuUsage(cpuAtStart);
      return {
        counts: { ...counts },
        callbacksSent,
        callbackRetries,
        callbacks429,
        callbackFailures,
        callbacksPending,
        cpuMs: (cpu.user + cpu.system) / 1000,
      };
    },
    async waitSettled(route, n, stallMs, timeoutMs) {
      const t0 = performance.now();
      for (;;) {
        if (counts[route] >= n) return { reached: true, why: `${n} ${route} requests` };
        const last = stepArrivals[stepArrivals.length - 1] ?? t0;
        const quiet = performance.now() - Math.max(last, t0);
        if (callbacksPending === 0 && quiet > stallMs)
          return {
            reached: false,
            why: `no step request for ${Math.round(quiet / 1000)} s and no callback left to deliver: ${counts[route]} of ${n} ${route} requests`,
          };
        if (performance.now() - t0 > timeoutMs)
          return { reached: false, why: `gave up after ${Math.round(timeoutMs / 1000)} s: ${counts[route]} of ${n} ${route} requests` };
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    steady(expected, from, to) {
      const a = stepArrivals;
      const first = a[0] ?? 0;
      const complete = a.length >= expected;
      const total = complete ? expected : a.length;
      const lo = Math.max(0, Math.floor(from * total) - 1);
      const hi = Math.max(lo, Math.ceil(to * total) - 1);
      const at = (i: number) => ((a[Math.min(i, a.length - 1)] ?? first) - first) / 1000;
      const windowS = at(hi) - at(lo);
      const wholeS = at(a.length - 1);
      const perSecond: number[] = [];
      for (const x of a) {
        const s = Math.floor((x - first) / 1000);
        perSecond[s] = (perSecond[s] ?? 0) + 1;
      }
      return {
        expected,
        received: a.length,
        complete,
        fromS: round3(at(lo)),
        toS: round3(at(hi)),
        steps: hi - lo,
        stepsPerS: windowS > 0 ? Math.round((hi - lo) / windowS) : 0,
        wholeS: round3(wholeS),
        wholeStepsPerS: wholeS > 0 ? Math.round((a.length - 1) / wholeS) : 0,
        perSecond: Array.from(perSecond, (v) => v ?? 0),
      };
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

const round3 = (v: number) => Math.round(v * 1000) / 1000;

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
  waitSettled(a: { route: SimRoute; count: number; stallMs: number; timeoutMs: number }): Promise<{ reached: boolean; why: string }>;
  steady(a: { expected: number; from: number; to: number }): Promise<SteadyState>;
  close(a: null): Promise<void>;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let sim: SimService | null = null;
  const need = () => {
    if (!sim) throw new Error('call start first');
    return sim;
  };
  const api: SimApi = {
    async start({ port }) {
      sim ??= await startSimService({ port });
      return { url: sim.url, pid: process.pid };
    },
    async configure(o) {
      need().configure(o);
    },
    async reset() {
      need().reset();
    },
    waitFor: ({ route, count: n, timeoutMs }) => need().waitFor(route, n, timeoutMs),
    async latency() {
      return need().latency();
    },
    async stats() {
      return need().stats();
    },
    waitSettled: ({ route, count: n, stallMs, timeoutMs }) => need().waitSettled(route, n, stallMs, timeoutMs),
    async steady({ expected, from, to }) {
      return need().steady(expected, from, to);
    },
    async close() {
      await sim?.close();
      setImmediate(() => process.exit(0));
    },
  };
  serveRpc(api);
}
