import { createHmac } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { createPolicyDispatcher, OPEN_POLICY } from './outbound-policy.js';
import type { Json } from '../domain/json.js';
import { requestDeadline, type RequestDeadline } from './request-deadline.js';
import { parseRetryAfter } from './retry.js';
import type { Span, Tracer } from '../tracing/tracer.js';

export interface OutboundRequest {
  method: string;
  /** Rendered path relative to the service's base_url, or an absolute URL on the same origin. */
  target: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Json;
  /** The manifest's path template (no query), for messages a tenant may read; never sent. */
  label?: string;
}

/** The part of the Fetch `Headers` interface callers use; a Fetch `Headers` satisfies it too. */
export interface ResponseHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
}

export interface OutboundResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
  /** Parsed body when it is JSON, else undefined. */
  json: Json | undefined;
  /** When the service asked us to come back (Retry-After), as epoch ms. */
  retryAt: number | null;
  durationMs: number;
}

/** A request that got no usable answer. `retryable` is false only for our own refusals (bad target, huge body). */
export class OutboundError extends Error {
  /**
   * `tail` is the message without its leading "<METHOD> <rendered path>", so a caller can name the request
   * by its template instead (rendered paths may hold tenant values).
   */
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly tail?: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

const failure = (method: string, url: URL, tail: string, retryable: boolean) =>
  new OutboundError(`${method} ${url.pathname}${tail}`, retryable, tail);

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
  /**
   * The service's signing secret: every request (and every followed redirect) then carries
   * `X-Provisioner-Timestamp` and `X-Provisioner-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<raw body>")>`
   * (docs/service-contract.md).
   */
  signingSecret?: string | null;
  /** Where connections come from; defaults to the process-wide keep-alive agent (see setOutboundDispatcher). */
  dispatcher?: Dispatcher;
}

const MAX_REDIRECTS = 3;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

// One keep-alive agent per process (undici keeps a Pool per origin inside it). undici's `request()` skips the
// WHATWG Request/Response/stream layers of `fetch`, which is where most of the per-request CPU went.
// Every connection it opens is checked against the network policy (built-in refusals until start-up sets one).
let sharedDispatcher: Dispatcher = createPolicyDispatcher(OPEN_POLICY);

/** Replaces the process-wide dispatcher (start-up installs one that enforces the outbound network policy). */
export function setOutboundDispatcher(d: Dispatcher): void {
  sharedDispatcher = d;
}
export function outboundDispatcher(): Dispatcher {
  return sharedDispatcher;
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`: the signature services verify. */
export function signServiceRequest(secret: string, timestamp: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export function createOutbound(o: OutboundOptions): Outbound {
  const base = new URL(o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`);
  const maxBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const now = o.now ?? Date.now;

  const plain = {
    async send(req: OutboundRequest, span: Span | null = null): Promise<OutboundResponse> {
      let url = resolveOnOrigin(base, req.target, req.query);
      const headers: Record<string, string> = { accept: 'application/json', ...lowerKeys(req.headers), ...o.headers };
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
      const deadline = requestDeadline(o.signal, o.timeoutMs);
      const signal = deadline.signal;
      const dispatcher = o.dispatcher ?? sharedDispatcher;
      let method = req.method;
      try {
        for (let hop = 0; ; hop++) {
          if (o.signingSecret) sign(headers, o.signingSecret, body ?? '');
          let res: Dispatcher.ResponseData;
          try {
            res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, signal, dispatcher });
          } catch (e) {
            throw describeError(e, method, url, o.timeoutMs, o.signal, deadline);
          }
          const resHeaders = new PlainHeaders(res.headers);
          const location = resHeaders.get('location');
          if (res.statusCode >= 300 && res.statusCode < 400 && location !== null) {
            // Drained (small bodies) or dropped: either way the connection is not left half-read.
            await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
            if (hop >= MAX_REDIRECTS) throw failure(method, url, `: more than ${MAX_REDIRECTS} redirects`, false);
            const next = new URL(location, url);
            if (next.origin !== base.origin) {
              throw failure(
                method,
                url,
                ` redirected to another host (${next.origin}); redirects are only followed within ${base.origin}`,
                false,
              );
            }
            url = next;
            if (res.statusCode === 303) {
              method = 'GET';
              body = undefined;
              delete headers['content-type'];
            }
            continue;
          }
          const text = await readLimited(res, resHeaders, maxBytes, method, url).catch((e: unknown) => {
            if (e instanceof OutboundError) throw e;
            throw describeError(e, method, url, o.timeoutMs, o.signal, deadline);
          });
          return {
            status: res.statusCode,
            headers: resHeaders,
            text,
            json: parseJson(text),
            retryAt: parseRetryAfter(resHeaders.get('retry-after'), now()),
            durationMs: now() - started,
          };
        }
      } finally {
        deadline.dispose();
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

function sign(headers: Record<string, string>, secret: string, rawBody: string) {
  // Wall-clock time, not the injected clock: the service compares it with its own clock.
  const timestamp = Math.floor(Date.now() / 1000);
  headers['x-provisioner-timestamp'] = String(timestamp);
  headers['x-provisioner-signature'] = signServiceRequest(secret, timestamp, rawBody);
}

/** Manifest headers may use any case; ours (lower case) must win over them, so the keys are normalised once. */
function lowerKeys(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
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
  if (url.origin !== base.origin)
    throw new OutboundError(`refusing ${url.origin}: requests may only go to the service's base_url (${base.origin})`, false);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url;
}

/** undici's header record (lower-case names, repeated headers as arrays) behind the Fetch `Headers` getters. */
export class PlainHeaders implements ResponseHeaders {
  constructor(private readonly raw: Record<string, string | string[] | undefined>) {}
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }
}

/** Reads at most `maxBytes`: a declared length over it is refused up front, a streamed body is cut off. */
export async function readLimited(
  res: Dispatcher.ResponseData,
  headers: ResponseHeaders,
  maxBytes: number,
  method: string,
  url: URL,
): Promise<string> {
  const declared = Number(headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    discard(res);
    throw failure(method, url, `: response body of ${declared} bytes is over the ${maxBytes}-byte limit`, false);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      discard(res);
      throw failure(method, url, `: response body is over the ${maxBytes}-byte limit`, false);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

/** Destroying an undici body emits an abort error; with nobody listening it would be an uncaught exception. */
function discard(res: Dispatcher.ResponseData) {
  res.body.on('error', () => undefined);
  res.body.destroy();
}

function parseJson(text: string): Json | undefined {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function describeError(
  e: unknown,
  method: string,
  url: URL,
  timeoutMs: number,
  outer: AbortSignal,
  deadline: RequestDeadline,
): OutboundError {
  if (e instanceof OutboundError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  if (outer.aborted) return failure(method, url, ': aborted (worker stopping)', true);
  if (deadline.timedOut || err.name === 'TimeoutError' || err.name === 'AbortError') {
    return failure(method, url, `: no answer within ${timeoutMs / 1000} s`, true);
  }
  // A refusal by the network policy is ours and final: retrying cannot make the address allowed.
  if (err instanceof OutboundError) return err;
  const policy = (err as { outboundPolicy?: boolean }).outboundPolicy === true;
  if (policy) return failure(method, url, `: ${err.message}`, false);
  const code = (err as { code?: string }).code;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = (code && !code.startsWith('UND_ERR') ? code : undefined) ?? cause?.code ?? code ?? err.message;
  return failure(method, url, `: ${detail}`, true);
}
