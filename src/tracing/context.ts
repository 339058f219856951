import { AsyncLocalStorage } from 'node:async_hooks';
import type { SpanContext } from './ids.js';

/**
 * The span an API request is handled in, for code the handler calls (the workflow starter stores it so
 * the workflow's steps join the request's trace). Only the HTTP tracing hook ever calls `run`, and only
 * when tracing is on: until then AsyncLocalStorage stays disabled and `activeSpanContext` costs nothing.
 * Within the engine, spans are passed explicitly.
 */
const storage = new AsyncLocalStorage<SpanContext>();

export function runInSpan<T>(context: SpanContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function activeSpanContext(): SpanContext | null {
  return storage.getStore() ?? null;
}
