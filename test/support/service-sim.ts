// A scriptable HTTP service on loopback, standing in for a provisioned service in engine tests.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>; // lower-case names; repeated headers joined with ", "
  body: unknown; // parsed JSON, else the raw string, or null when empty
  at: number; // Date.now() when the body had arrived
}

export type SimResponse = {
  status?: number; // 200
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  hang?: boolean; // never answer; the socket ends at close()
  reset?: boolean; // destroy the socket instead of answering
};

/** `nth` is the 1-based count of calls to this route since it was (re)registered. */
export type SimHandler = (req: RecordedRequest, nth: number, params: Record<string, string>) => SimResponse | Promise<SimResponse>;

export interface ServiceSim {
  url: string;
  requests: RecordedRequest[];
  /** Registering the same method and pattern again replaces the handler and restarts its count. */
  route(method: string, pathPattern: string, handler: SimHandler | SimResponse): void;
  /** `path` may be a pattern such as '/accounts/:id'. */
  calls(method: string, path?: string): RecordedRequest[];
  /** Resolves with the first request, already recorded or yet to come, that matches. */
  waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

type Route = { method: string; pattern: string; handler: SimHandler; count: number };
type Waiter = { pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void; reject: (e: Error) => void };

export async function startServiceSim(): Promise<ServiceSim> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const waiters = new Set<Waiter>();
  const closing = new AbortController();

  function record(r: RecordedRequest): void {
    requests.push(r);
    for (const w of waiters) {
      let matched: boolean;
      try {
        matched = w.pred(r);
      } catch (e) {
        waiters.delete(w);
        w.reject(e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      if (matched) {
        waiters.delete(w);
        w.resolve(r);
      }
    }
  }

  function findRoute(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of routes.values()) {
      if (route.method !== method) continue;
      const params = matchPath(route.pattern, path);
      if (params) return { route, params };
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.local');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: flattenHeaders(req.headers),
      body: parseBody(await readText(req)),
      at: Date.now(),
    };
    const found = findRoute(recorded.method, recorded.path);
    // Counted before the handler runs, so concurrent calls each get their own nth.
    const nth = found ? ++found.route.count : 0;
    record(recorded);

    let reply: SimResponse;
    try {
      reply = found ? await found.route.handler(recorded, nth, found.params) : { status: 404, json: { error: 'no route' } };
    } catch (e) {
      reply = { status: 500, json: { error: `sim handler threw: ${e instanceof Error ? e.message : String(e)}` } };
    }
    // close() cuts a delay short; the socket is gone by then, so there is nothing left to answer.
    if (reply.delayMs) await sleep(reply.delayMs, undefined, { signal: closing.signal }).catch(() => undefined);
    if (closing.signal.aborted || reply.hang) return;
    if (reply.reset) {
      req.socket.destroy();
      return;
    }
    send(res, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(e) }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('service sim did not bind a TCP port');

  let closed: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    route(method, pathPattern, handler) {
      const key = `${method.toUpperCase()} ${pathPattern}`;
      routes.delete(key);
      routes.set(key, {
        method: method.toUpperCase(),
        pattern: pathPattern,
        handler: typeof handler === 'function' ? handler : () => handler,
        count: 0,
      });
    },
    calls(method, path) {
      const m = method.toUpperCase();
      return requests.filter((r) => r.method === m && (path === undefined || matchPath(path, r.path) !== undefined));
    },
    waitFor(pred, timeoutMs = 2_000) {
      const seen = requests.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const got = requests.map((r) => `${r.method} ${r.path}`).join(', ') || 'none';
          reject(new Error(`no matching request within ${timeoutMs} ms; received: ${got}`));
        }, timeoutMs);
        const waiter: Waiter = {
          pred,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiters.add(waiter);
      });
    },
    close() {
      closed ??= (async () => {
        closing.abort();
        for (const w of waiters) w.reject(new Error('service sim closed while waiting for a request'));
        waiters.clear();
        const done = new Promise((resolve) => server.close(resolve));
        server.closeAllConnections();
        await done;
      })();
      return closed;
    },
  };
}

/** Matches '/accounts/:id' against '/accounts/acc_1' → {id: 'acc_1'}; undefined when it does not match. */
function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return undefined;
  }
  return params;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Tests also look at bodies that are not JSON on purpose, so those are kept as text. */
function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function send(res: ServerResponse, reply: SimResponse): void {
  const status = reply.status ?? 200;
  if (reply.json !== undefined) {
    res.writeHead(status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.json));
  } else {
    res.writeHead(status, { ...reply.headers }).end(reply.body ?? '');
  }
}

/**
 * POSTs `body` as JSON (a string is sent as is, so tests can send malformed JSON) and reads the
 * answer as JSON when it parses, else as text, or null when empty.
 */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any /* tests read arbitrary response shapes */; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: parseBody(text), headers: res.headers };
}
