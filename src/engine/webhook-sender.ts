import { request, type Dispatcher } from 'undici';
import { outboundDispatcher } from './outbound.js';
import { requestDeadline } from './request-deadline.js';

/** How much of a non-2xx answer is read (for last_error): the rest is dropped unread. */
export const WEBHOOK_ERROR_BYTES = 1024;

export interface WebhookPost {
  targetUrl: string;
  /** Sent byte for byte, so the signature covers exactly what the receiver reads. */
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  timeoutMs: number;
}

/** A delivery that got no HTTP answer; the message never holds the target URL (it may carry a token). */
export class WebhookTransportError extends Error {
  constructor(
    message: string,
    readonly policy = false,
  ) {
    super(message);
    this.name = 'WebhookTransportError';
  }
}

/**
 * One signed POST to a webhook target through the process-wide dispatcher (network policy, keep-alive).
 * Any HTTP answer is returned (2xx bodies are not read; others up to WEBHOOK_ERROR_BYTES); redirects are
 * not followed. Throws WebhookTransportError for refused, reset, timed out or policy-refused connections.
 */
export async function postWebhook(p: WebhookPost): Promise<{ status: number; text: string }> {
  const deadline = requestDeadline(p.signal, p.timeoutMs);
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(p.targetUrl, {
        method: 'POST',
        body: p.body,
        headers: p.headers,
        signal: deadline.signal,
        dispatcher: outboundDispatcher(),
      });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (deadline.timedOut) throw new WebhookTransportError(`no answer within ${p.timeoutMs} ms`);
      if (p.signal.aborted) throw new WebhookTransportError('aborted (dispatcher stopping)');
      if ((err as { outboundPolicy?: boolean }).outboundPolicy) throw new WebhookTransportError(err.message, true);
      const code = (err as { code?: string }).code;
      throw new WebhookTransportError(`request failed: ${code && !code.startsWith('UND_ERR') ? code : err.message}`);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump({ limit: WEBHOOK_ERROR_BYTES }).catch(() => undefined);
      return { status: res.statusCode, text: '' };
    }
    return { status: res.statusCode, text: await readCapped(res, WEBHOOK_ERROR_BYTES) };
  } finally {
    deadline.dispose();
  }
}

async function readCapped(res: Dispatcher.ResponseData, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= max) break;
    }
  } catch {
    // A body cut off mid-way still leaves what was read.
  }
  res.body.on('error', () => undefined);
  res.body.destroy();
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}
