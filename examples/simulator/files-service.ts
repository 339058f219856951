// A simulated "Files" service: the API that examples/services/files.yaml provisions against.
// It keeps everything in memory and is meant to be read: node:http plus the service client package
// (packages/service-client), which verifies signatures, reports callbacks and builds poll answers.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  callbackAccepted,
  pollAnswer,
  pollStarted,
  reportCallback,
  verifyRequest,
  CallbackRefused,
  type Answer,
} from '../../packages/service-client/src/index.js';

export interface FilesServiceOptions {
  host?: string; // 127.0.0.1
  port?: number; // 9100; 0 = any free port
  callbackDelayMs?: number; // 300: how long a bucket takes before Files calls back
  pollsUntilReady?: number; // 2: the Nth GET of an index answers `completed`
  /** The signing secrets Provisioner issued (new and old while rotating); unsigned requests then get 401. */
  signingSecrets?: string[];
  log?: (line: string) => void;
}

export interface FilesService {
  url: string;
  close(): Promise<void>;
  stats(): { accounts: number; buckets: number; indexes: number; keys: number };
}

type Body = Record<string, unknown>;
type Reply = { status: number; json?: unknown; headers?: Record<string, string> };
type Route = { method: string; path: RegExp; handle: (body: Body, id: string) => Reply };

const PUBLIC_BASE = 'https://files.example/';
const CALLBACK_ATTEMPTS = 4;
const CALLBACK_BACKOFF_MS = 100; // doubles after each failed attempt
const CALLBACK_TIMEOUT_MS = 5_000;

export async function startFilesService(opts: FilesServiceOptions = {}): Promise<FilesService> {
  const { host = '127.0.0.1', port = 9100, callbackDelayMs = 300, pollsUntilReady = 2, signingSecrets = [], log = () => {} } = opts;

  const accounts = new Map<string, { tenant: unknown }>();
  const buckets = new Map<string, { account: string }>(); // keyed by account id: one bucket per account
  const indexes = new Map<string, { account: unknown; polls: number }>();
  const keys = new Set<string>();
  const idempotentReplies = new Map<string, Reply>();
  const closing = new AbortController();
  const deliveries = new Set<Promise<void>>();

  const newId = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;
  // Deleting something unknown is still 204, so a compensation that is retried succeeds.
  const remove = (items: Map<string, unknown> | Set<string>, id: string): Reply => {
    items.delete(id);
    return { status: 204 };
  };

  const routes: Route[] = [
    { method: 'POST', path: /^\/accounts$/, handle: createAccount },
    { method: 'DELETE', path: /^\/accounts\/([^/]+)$/, handle: (_, id) => remove(accounts, id) },
    { method: 'POST', path: /^\/buckets$/, handle: createBucket },
    { method: 'DELETE', path: /^\/buckets\/([^/]+)$/, handle: (_, id) => remove(buckets, id) },
    { method: 'POST', path: /^\/indexes$/, handle: createIndex },
    { method: 'GET', path: /^\/indexes\/([^/]+)$/, handle: pollIndex },
    { method: 'DELETE', path: /^\/indexes\/([^/]+)$/, handle: (_, id) => remove(indexes, id) },
    { method: 'POST', path: /^\/keys$/, handle: issueKeys },
    { method: 'DELETE', path: /^\/keys\/([^/]+)$/, handle: (_, id) => remove(keys, id) },
  ];

  function createAccount(body: Body): Reply {
    const id = newId('acc');
    accounts.set(id, { tenant: body.tenant });
    return { status: 201, json: { id, tenant: body.tenant ?? null } };
  }

  function createBucket(body: Body): Reply {
    const { account, callback_url, callback_token } = body;
    if (typeof callback_url !== 'string' || typeof callback_token !== 'string') {
      return { status: 400, json: { error: 'callback_url and callback_token are required strings' } };
    }
    if (typeof account !== 'string' || !accounts.has(account)) {
      return { status: 404, json: { error: `unknown account ${String(account)}` } };
    }
    buckets.set(account, { account });
    track(deliverCallback(callback_url, callback_token, account));
    return fromAnswer(callbackAccepted({ id: account, status: 'creating' }));
  }

  function createIndex(body: Body): Reply {
    const id = newId('idx');
    indexes.set(id, { account: body.account, polls: 0 });
    return fromAnswer(pollStarted(`/indexes/${id}`, { id }));
  }

  function pollIndex(_: Body, id: string): Reply {
    const index = indexes.get(id);
    if (!index) return { status: 404, json: { error: `unknown index ${id}` } };
    index.polls += 1;
    if (index.polls < pollsUntilReady) return fromAnswer(pollAnswer.inProgress());
    return fromAnswer(pollAnswer.completed({ metadata: { index: id, documents: 0 } }));
  }

  function issueKeys(body: Body): Reply {
    const id = newId('key');
    keys.add(id);
    return {
      status: 201,
      json: {
        id,
        endpoint: PUBLIC_BASE + String(body.account),
        credentials: { access_key: `AK${randomBytes(8).toString('hex')}`, secret_key: randomBytes(20).toString('hex') },
      },
    };
  }

  // A repeated Idempotency-Key gets the first successful reply again and creates nothing new.
  // Reads (polls) are not deduplicated: they carry the step's key too, but each must see fresh state.
  function answer(method: string, path: string, key: string | undefined, body: Body, route: Route, id: string): Reply {
    if (method === 'GET') key = undefined;
    const cacheKey = `${method} ${path} ${key}`;
    const earlier = key === undefined ? undefined : idempotentReplies.get(cacheKey);
    if (earlier) return earlier;
    const reply = route.handle(body, id);
    if (key !== undefined && reply.status < 300) idempotentReplies.set(cacheKey, reply);
    return reply;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://files.local').pathname;
    const route = routes.find((r) => r.method === method && r.path.test(path));
    let reply: Reply;
    if (!route) {
      reply = { status: 404, json: { error: `no route for ${method} ${path}` } };
    } else {
      const raw = await readText(req);
      const verified = signingSecrets.length === 0 ? null : verifyRequest({ headers: req.headers, rawBody: raw, secrets: signingSecrets });
      if (verified && !verified.ok) {
        send(res, { status: 401, json: { error: verified.message } });
        log(`${method} ${path} -> 401 (${verified.reason})`);
        return;
      }
      const body = parseBody(raw);
      const id = decodeURIComponent(route.path.exec(path)?.[1] ?? '');
      const key = req.headers['idempotency-key'];
      reply =
        body === undefined
          ? { status: 400, json: { error: 'the body must be a JSON object' } }
          : answer(method, path, typeof key === 'string' ? key : undefined, body, route, id);
    }
    send(res, reply);
    log(`${method} ${path} -> ${reply.status}`);
  }

  // reportCallback retries network errors, 429 and 5xx; a 4xx (unknown token, expired wait) is final.
  async function deliverCallback(url: string, callbackToken: string, account: string): Promise<void> {
    const { signal } = closing;
    await sleep(callbackDelayMs, undefined, { signal });
    try {
      const ack = await reportCallback({
        callbackUrl: url,
        callbackToken,
        status: 'completed',
        endpoint: PUBLIC_BASE + account,
        metadata: { bucket: account, region: 'local-1' },
        attempts: CALLBACK_ATTEMPTS,
        initialDelayMs: CALLBACK_BACKOFF_MS,
        timeoutMs: CALLBACK_TIMEOUT_MS,
        signal,
        onRetry: ({ attempt, attempts, problem }) => log(`callback POST ${url} attempt ${attempt}/${attempts} failed: ${problem}`),
      });
      log(`callback POST ${url} -> accepted${ack.duplicate ? ' (duplicate)' : ''}`);
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof CallbackRefused) log(`callback POST ${url} refused (${e.status}): ${e.message}`);
      else throw e;
    }
  }

  function track(delivery: Promise<void>): void {
    const tracked: Promise<void> = delivery
      .catch((e: unknown) => {
        if (!closing.signal.aborted) log(`callback failed: ${errorMessage(e)}`);
      })
      .finally(() => deliveries.delete(tracked));
    deliveries.add(tracked);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`${req.method} ${req.url} failed: ${errorMessage(e)}`);
      if (!res.headersSent) send(res, { status: 500, json: { error: 'internal error' } });
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;

  return {
    url: `http://${host}:${boundPort}`,
    stats: () => ({ accounts: accounts.size, buckets: buckets.size, indexes: indexes.size, keys: keys.size }),
    async close() {
      closing.abort();
      await Promise.allSettled([...deliveries]);
      if (!server.listening) return;
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

function fromAnswer(a: Answer<unknown>): Reply {
  return { status: a.status, headers: a.headers, json: a.body };
}

function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** An empty body is `{}`; anything but a JSON object is `undefined` (→ 400). */
function parseBody(text: string): Body | undefined {
  if (text.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Body) : undefined;
  } catch {
    return undefined; // malformed JSON is the client's problem: answered 400 by the caller
  }
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.json === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  res.writeHead(reply.status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(reply.json));
}

// fetch reports every network failure as "fetch failed"; the cause says which one.
function errorMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message;
}
