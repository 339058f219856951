import type { Json } from '../domain/json.js';
import { parseRetryAfter } from './retry.js';
import type { Span, Tracer } from '../tracing/tracer.js';

export interface OutboundRequest {
  method: string;
  /** Rendered path relative to the service's base_url, or an absolute URL on the same origin. */
  target: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Json;
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body when it is JSON, else undefined. */
  json: Json | undefined;
  /** When the service asked us to come back (Retry-After), as epoch ms. */
  retryAt: number | null;
  durationMs: number;
}

/** A request that got no usable answer. `retryable` is false only for our own refusals (bad target, huge body). */
export class OutboundError extends Error {
  constructor(message: string, readonly retryable: boolean) { super(message); this.name = 'OutboundError'; }
}

export interface Outbound {
  send(req: OutboundRequest): Promise<OutboundResponse>;
}

export interface OutboundOptions {
  baseUrl: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Sent on every request: Idempotency-Key and the X-Provisioner-* headers (DESIGN §6). */
  headers: Record<string, string>;
  maxResponseBytes?: number;
  now?: () => number;
  /** When on, each request is a client span under `parent` and carries its `traceparent`. */
  tracer?: Tracer;
  parent?: Span | null;
}

const MAX_REDIRECTS = 3;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

export function createOutbound(o: OutboundOptions): Outbound {
  const base = new URL(o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`);
  const maxBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const now = o.now ?? Date.now;

  const plain = {
    async send(req: OutboundRequest, span: Span | null = null): Promise<OutboundResponse> {
      let url = resolveOnOrigin(base, req.target, req.query);
      const headers: Record<string, string> = { accept: 'application/json', ...req.headers, ...o.headers };
      const traceparent = span ? o.tracer?.traceparent(span) : null;
      if (span && traceparent) {
        headers.traceparent = traceparent;
        span.setAttributes({ 'url.path': url.pathname, 'server.address': url.hostname });
      }
      let body: string | undefined;
      if (req.body !== undefined && req.method !== 'GET' && req.method !== 'DELETE') {
        body = JSON.stringify(req.body);
        headers['content-type'] = 'application/json';
      }
      const started = now();
      const signal = AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]);
      let method = req.method;
      for (let hop = 0; ; hop++) {
        let res: Response;
        try {
          res = await fetch(url, { method, headers, body, signal, redirect: 'manual' });
        } catch (e) {
          throw describeFetchError(e, method, url, o.timeoutMs, o.signal);
        }
        if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
          await res.body?.cancel();
          if (hop >= MAX_REDIRECTS) throw new OutboundError(`${method} ${url.pathname}: more than ${MAX_REDIRECTS} redirects`, false);
          const next = new URL(res.headers.get('location') as string, url);
          if (next.origin !== base.origin) {
            throw new OutboundError(`${method} ${url.pathname} redirected to another host (${next.origin}); redirects are only followed within ${base.origin}`, false);
          }
          url = next;
          if (res.status === 303) { method = 'GET'; body = undefined; }
          continue;
        }
        const text = await readLimited(res, maxBytes, method, url).catch((e: unknown) => {
          if (e instanceof OutboundError) throw e;
          throw describeFetchError(e, method, url, o.timeoutMs, o.signal);
        });
        return { status: res.status, headers: res.headers, text, json: parseJson(text), retryAt: parseRetryAfter(res.headers.get('retry-after'), now()), durationMs: now() - started };
      }
    },
  };
  const tracer = o.tracer;
  if (!tracer?.enabled) return plain;
  return {
    async send(req) {
      // Named by method only, as OpenTelemetry's HTTP convention asks: rendered paths hold ids.
      const span = tracer.startSpan(req.method, { kind: 'client', parent: o.parent, attributes: { 'http.request.method': req.method } });
      try {
        const res = await plain.send(req, span);
        span.setAttributes({ 'http.response.status_code': res.status });
        if (res.status >= 400) span.setError(`HTTP ${res.status}`);
        return res;
      } catch (e) {
        span.setError(e instanceof Error ? e.message : String(e));
        throw e;
      } finally {
        span.end();
      }
    },
  };
}

/** A templated path can never leave the service's origin: absolute targets must match it exactly. */
export function resolveOnOrigin(base: URL, target: string, query?: Record<string, string>): URL {
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    url = new URL(target);
  } else {
    if (!target.startsWith('/') || target.startsWith('//')) throw new OutboundError(`path "${target}" must start with a single "/"`, false);
    url = new URL(base.pathname.replace(/\/$/, '') + target, base.origin);
  }
  if (url.origin !== base.origin) throw new OutboundError(`refusing ${url.origin}: requests may only go to the service's base_url (${base.origin})`, false);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url;
}

async function readLimited(res: Response, maxBytes: number, method: string, url: URL): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new OutboundError(`${method} ${url.pathname}: response body of ${declared} bytes is over the ${maxBytes}-byte limit`, false);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new OutboundError(`${method} ${url.pathname}: response body is over the ${maxBytes}-byte limit`, false);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Json | undefined {
  if (text.trim() === '') return undefined;
  try { return JSON.parse(text) as Json; } catch { return undefined; }
}

function describeFetchError(e: unknown, method: string, url: URL, timeoutMs: number, outer: AbortSignal): OutboundError {
  const err = e instanceof Error ? e : new Error(String(e));
  if (outer.aborted) return new OutboundError(`${method} ${url.pathname}: aborted (worker stopping)`, true);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return new OutboundError(`${method} ${url.pathname}: no answer within ${timeoutMs / 1000} s`, true);
  }
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? err.message;
  return new OutboundError(`${method} ${url.pathname}: ${detail}`, true);
}
