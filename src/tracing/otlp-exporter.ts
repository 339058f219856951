import type { AttributeValue, FinishedSpan, SpanKind, SpanSink } from './tracer.js';

/** What the exporter logs through; a pino logger fits. */
export interface ExporterLog {
  warn(fields: object, message: string): void;
}

export interface OtlpExporterOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans go to `{endpoint}/v1/traces`. */
  endpoint: string;
  /** OTEL_EXPORTER_OTLP_HEADERS, e.g. an API key for a hosted collector. */
  headers?: Readonly<Record<string, string>>;
  serviceName: string;
  log: ExporterLog;
  /** A batch leaves when it has this many spans… Default 512. */
  maxBatch?: number;
  /** …or this long after its first span was buffered. Default 1000 ms. */
  intervalMs?: number;
  /** Spans buffered while the collector is slow; beyond this the oldest are dropped. Default 4096. */
  maxQueue?: number;
  /** Per POST. Default 5000 ms. */
  timeoutMs?: number;
  /** One warning per this interval at most while exports fail; each names how many spans were dropped. Default 30 s. */
  warnEveryMs?: number;
}

const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3 };

/**
 * OTLP/HTTP with the JSON encoding (https://opentelemetry.io/docs/specs/otlp/#otlphttp), written out
 * here rather than pulling in the OpenTelemetry SDK. Spans are batched and POSTed from a timer that
 * exists only while spans wait; one POST is in flight at a time. Export never blocks or fails the
 * engine: a collector that is down or slow costs the spans of that batch, counted in a warning.
 */
export function createOtlpExporter(o: OtlpExporterOptions): SpanSink {
  const url = `${o.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const maxBatch = o.maxBatch ?? 512;
  const intervalMs = o.intervalMs ?? 1000;
  const maxQueue = Math.max(maxBatch, o.maxQueue ?? 4096);
  const timeoutMs = o.timeoutMs ?? 5000;
  const warnEveryMs = o.warnEveryMs ?? 30_000;
  const headers = { ...o.headers, 'content-type': 'application/json' };

  let queue: FinishedSpan[] = [];
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let closed = false;
  let exported = 0;
  let dropped = 0;
  let droppedSinceWarning = 0;
  let lastWarningAt = -Infinity;

  function drop(n: number, reason: string) {
    dropped += n;
    droppedSinceWarning += n;
    const at = Date.now();
    if (at - lastWarningAt < warnEveryMs) return;
    lastWarningAt = at;
    o.log.warn(
      { dropped_spans: droppedSinceWarning, dropped_spans_total: dropped, collector: url, reason },
      'trace export failed; spans dropped (the engine is not affected)',
    );
    droppedSinceWarning = 0;
  }

  async function post(batch: FinishedSpan[]): Promise<boolean> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(toOtlpJson(batch, o.serviceName)),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) {
        exported += batch.length;
        return true;
      }
      drop(batch.length, `collector answered ${res.status}`);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err.cause as { code?: string } | undefined)?.code;
      drop(batch.length, err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (code ?? err.message));
    }
    return false;
  }

  function schedule() {
    if (timer || closed || queue.length === 0) return;
    timer = setTimeout(send, intervalMs);
    timer.unref(); // buffered spans never keep the process alive; close() flushes them
  }

  function send() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (inFlight || queue.length === 0) return;
    const batch = queue.splice(0, maxBatch);
    inFlight = post(batch).then(() => {
      inFlight = null;
      if (closed) return; // shutdown() takes over what is left
      if (queue.length >= maxBatch) send();
      else schedule();
    });
  }

  return {
    export(span) {
      if (closed) {
        dropped++;
        return;
      }
      queue.push(span);
      if (queue.length > maxQueue)
        drop(queue.splice(0, queue.length - maxQueue).length, `more than ${maxQueue} spans waiting for the collector`);
      if (queue.length >= maxBatch) send();
      else schedule();
    },
    stats: () => ({ exported, dropped }),
    async shutdown() {
      if (closed) return;
      closed = true;
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
      await inFlight;
      // One failed batch ends the flush: a collector that is down would otherwise cost a timeout per batch.
      while (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        if (!(await post(batch))) {
          if (queue.length > 0) drop(queue.length, 'collector unavailable at shutdown');
          queue = [];
        }
      }
    },
  };
}

/** The OTLP JSON body: resourceSpans → scopeSpans → spans, ids in hex, times as decimal strings. */
export function toOtlpJson(spans: readonly FinishedSpan[], serviceName: string) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [attribute('service.name', serviceName)] },
        scopeSpans: [
          {
            scope: { name: 'provisioner' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: KIND[s.kind],
              startTimeUnixNano: s.startNs.toString(),
              endTimeUnixNano: s.endNs.toString(),
              attributes: Object.entries(s.attributes).map(([k, v]) => attribute(k, v)),
              status: s.status.code === 'error' ? { code: 2, message: s.status.message ?? '' } : { code: 0 },
            })),
          },
        ],
      },
    ],
  };
}

/** int64 as a decimal string, as the protobuf JSON mapping writes it; other numbers are doubles. */
function attribute(key: string, v: AttributeValue) {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return { key, value: Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v } };
}
