import type { CallbackAck, CallbackBody, JsonObject, ReportStatus } from './types.js';

export interface ReportCallbackOptions {
  /** The `{{callback.url}}` Provisioner sent in the step's request. */
  callbackUrl: string;
  /** The `{{callback.token}}` Provisioner sent; goes into the body as `callback_token`. */
  callbackToken: string;
  status: ReportStatus;
  endpoint?: string | null;
  credentials?: JsonObject | null;
  error?: string | null;
  metadata?: JsonObject | null;
  /** Tries in all (default 5) for network errors, timeouts, 429 and 5xx. */
  attempts?: number;
  /** First pause between tries in ms (default 200), doubled each time, capped by maxDelayMs; Retry-After wins. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Per try (default 10 000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called after each failed try that will be retried (for logs; the token is never in `problem`). */
  onRetry?: (info: { attempt: number; attempts: number; problem: string; delayMs: number }) => void;
  fetch?: typeof fetch;
}

/** Provisioner refused the callback; retrying the same callback will not help. */
export class CallbackRefused extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) { super(message); this.name = new.target.name; }
}
/** 404: Provisioner does not know this token (a typo, or the token of another deployment). */
export class UnknownCallbackToken extends CallbackRefused {}
/** 409: the step already ended differently (another final report, cancelled, force-completed). */
export class CallbackConflict extends CallbackRefused {}
/** 410: the step's wait expired before the callback arrived; the step failed or was retried. */
export class CallbackExpired extends CallbackRefused {}
/** 422: the body is malformed; `issues` lists each field (e.g. `callback_token` missing). */
export class CallbackInvalid extends CallbackRefused {
  get issues(): { loc: (string | number)[]; msg: string; type: string }[] {
    const d = (this.body as { detail?: unknown } | null)?.detail;
    return Array.isArray(d) ? d : [];
  }
}
/** Every try failed on the network, timed out, or got 429/5xx. */
export class CallbackUndelivered extends Error {
  constructor(message: string, readonly attempts: number) { super(message); this.name = new.target.name; }
}

const REFUSALS: Record<number, new (status: number, message: string, body: unknown) => CallbackRefused> = {
  404: UnknownCallbackToken, 409: CallbackConflict, 410: CallbackExpired, 422: CallbackInvalid,
};

function retryAfterMs(value: string | null): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(signal.reason); return; }
  const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(timer); reject(signal?.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

/** The body Provisioner expects; undefined fields are left out. */
export function callbackBody(o: Pick<ReportCallbackOptions, 'callbackToken' | 'status' | 'endpoint' | 'credentials' | 'error' | 'metadata'>): CallbackBody {
  const body: CallbackBody = { callback_token: o.callbackToken, status: o.status };
  if (o.endpoint !== undefined) body.endpoint = o.endpoint;
  if (o.credentials !== undefined) body.credentials = o.credentials;
  if (o.error !== undefined) body.error = o.error;
  if (o.metadata !== undefined) body.metadata = o.metadata;
  return body;
}

/**
 * Reports a callback step's result (or a heartbeat, with status in_progress). Retries what may pass
 * later (network, timeout, 429, 5xx) and throws a typed CallbackRefused subclass for 404/409/410/422.
 * An identical repeat of an accepted final report is answered with `duplicate: true`: safe to resend.
 */
export async function reportCallback(o: ReportCallbackOptions): Promise<CallbackAck> {
  const attempts = Math.max(1, o.attempts ?? 5);
  const doFetch = o.fetch ?? fetch;
  const payload = JSON.stringify(callbackBody(o));
  let delay = o.initialDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    let problem: string;
    let wait: number | null = null;
    try {
      const res = await doFetch(o.callbackUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: payload,
        signal: o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs ?? 10_000)]) : AbortSignal.timeout(o.timeoutMs ?? 10_000),
      });
      const text = await res.text();
      let json: unknown = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = text; }
      if (res.ok) return ((json as { data?: CallbackAck } | null)?.data ?? json) as CallbackAck;
      const message = (json as { error?: { message?: string } } | null)?.error?.message ?? `callback answered ${res.status}`;
      const Refusal = REFUSALS[res.status];
      if (Refusal) throw new Refusal(res.status, message, json);
      if (res.status !== 429 && res.status < 500) throw new CallbackRefused(res.status, message, json);
      problem = `status ${res.status}`;
      wait = retryAfterMs(res.headers.get('retry-after'));
    } catch (e) {
      if (e instanceof CallbackRefused) throw e;
      if (o.signal?.aborted) throw e;
      const err = e as Error;
      problem = err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
    }
    if (attempt >= attempts) throw new CallbackUndelivered(`callback not delivered after ${attempts} tries: ${problem}`, attempts);
    const delayMs = Math.min(wait ?? delay, o.maxDelayMs ?? 30_000);
    o.onRetry?.({ attempt, attempts, problem, delayMs });
    await sleep(delayMs, o.signal);
    delay *= 2;
  }
}
