import { formatTraceparent, newSpanId, newTraceId, type SpanContext } from './ids.js';

export type SpanKind = 'internal' | 'server' | 'client';
export type AttributeValue = string | number | boolean;
/** null and undefined values are left out, so callers can pass "when known" fields as they are. */
export type Attributes = Record<string, AttributeValue | null | undefined>;

export interface SpanOptions {
  kind?: SpanKind;
  /** The parent span, or a remote parent (an incoming `traceparent`); none starts a new trace. */
  parent?: Span | SpanContext | null;
  attributes?: Attributes;
}

export interface Span {
  /** null when the span is not recorded (tracing off): then there is nothing to propagate either. */
  readonly context: SpanContext | null;
  setAttributes(attributes: Attributes): void;
  /** Error status (OTLP code 2); the message says what went wrong. Default status is unset. */
  setError(message: string): void;
  /** Ends the span; later calls do nothing. */
  end(): void;
}

export interface Tracer {
  readonly enabled: boolean;
  startSpan(name: string, options?: SpanOptions): Span;
  /** `traceparent` header value for a span, or null when it is not recorded. */
  traceparent(span: Span): string | null;
  /** Spans handed to the exporter and spans it had to drop (collector down, queue full, after close). */
  stats(): { exported: number; dropped: number };
  /** Flushes what is buffered; spans ended afterwards are dropped. */
  close(): Promise<void>;
}

/** A span as the exporter receives it. Times are Unix epoch nanoseconds. */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: SpanKind;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttributeValue>;
  status: { code: 'unset' | 'error'; message?: string };
}

export interface SpanSink {
  export(span: FinishedSpan): void;
  stats(): { exported: number; dropped: number };
  shutdown(): Promise<void>;
}

const NOOP_SPAN: Span = Object.freeze({ context: null, setAttributes() {}, setError() {}, end() {} });

/** Tracing off: nothing is recorded, buffered, timed or sent. */
export const noopTracer: Tracer = Object.freeze({
  enabled: false,
  startSpan: () => NOOP_SPAN,
  traceparent: () => null,
  stats: () => ({ exported: 0, dropped: 0 }),
  close: async () => {},
});

/** Nanoseconds since the epoch: a wall-clock anchor plus the monotonic clock, so spans keep their order and length. */
function epochNanos(): () => bigint {
  const anchor = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return () => anchor + process.hrtime.bigint();
}

export function createTracer(sink: SpanSink): Tracer {
  const now = epochNanos();

  function startSpan(name: string, options: SpanOptions = {}): Span {
    const parentContext = options.parent ? ('traceId' in options.parent ? options.parent : options.parent.context) : null;
    const context: SpanContext = { traceId: parentContext?.traceId ?? newTraceId(), spanId: newSpanId() };
    const attributes: Record<string, AttributeValue> = {};
    const setAttributes = (a: Attributes) => {
      for (const [k, v] of Object.entries(a)) if (v !== null && v !== undefined) attributes[k] = v;
    };
    if (options.attributes) setAttributes(options.attributes);
    const startNs = now();
    let status: FinishedSpan['status'] = { code: 'unset' };
    let ended = false;
    return {
      context,
      setAttributes(a) {
        if (!ended) setAttributes(a);
      },
      setError(message) {
        if (!ended) status = { code: 'error', message };
      },
      end() {
        if (ended) return;
        ended = true;
        sink.export({
          traceId: context.traceId,
          spanId: context.spanId,
          parentSpanId: parentContext?.spanId ?? null,
          name,
          kind: options.kind ?? 'internal',
          startNs,
          endNs: now(),
          attributes,
          status,
        });
      },
    };
  }

  return {
    enabled: true,
    startSpan,
    traceparent: (span) => (span.context ? formatTraceparent(span.context) : null),
    stats: () => sink.stats(),
    close: () => sink.shutdown(),
  };
}
