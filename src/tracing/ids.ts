import { randomBytes } from 'node:crypto';

/** Where a span sits in a trace: what a W3C `traceparent` header carries. */
export interface SpanContext {
  /** 32 lower-case hex digits, never all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, never all zero. */
  readonly spanId: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export function newTraceId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (id !== ZERO_TRACE) return id;
  }
}

export function newSpanId(): string {
  for (;;) {
    const id = randomBytes(8).toString('hex');
    if (id !== ZERO_SPAN) return id;
  }
}

/**
 * `00-<trace id>-<span id>-01`. Every span we make is recorded and exported, so the sampled flag is
 * always set: a service that samples on it keeps its part of the trace.
 */
export function formatTraceparent(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-01`;
}

/**
 * Parses a W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header).
 * Anything malformed is null (the request then starts a new trace), as the spec asks. A later version
 * is read as version 00 if its first four fields fit, ignoring what follows.
 */
export function parseTraceparent(header: string | string[] | null | undefined): SpanContext | null {
  if (typeof header !== 'string') return null;
  const parts = header.trim().split('-');
  if (parts.length < 4) return null;
  const [version, traceId, spanId, flags] = parts;
  if (!/^[0-9a-f]{2}$/.test(version) || version === 'ff') return null;
  if (version === '00' && parts.length !== 4) return null;
  if (!TRACE_ID.test(traceId) || traceId === ZERO_TRACE) return null;
  if (!SPAN_ID.test(spanId) || spanId === ZERO_SPAN) return null;
  if (!/^[0-9a-f]{2}$/.test(flags)) return null;
  return { traceId, spanId };
}
