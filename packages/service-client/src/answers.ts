import type { Answer, JsonObject, PollBody } from './types.js';

const json = { 'content-type': 'application/json' };

/** Answers to Provisioner's poll requests (GET on the Location / poll_url). Always HTTP 200; the body says where the work stands. */
export const pollAnswer = {
  /** Not done yet; Provisioner polls again after the step's interval. `metadata` is shown as progress. */
  inProgress(metadata?: JsonObject): Answer<PollBody> {
    return { status: 200, headers: json, body: { status: 'in_progress', ...(metadata ? { metadata } : {}) } };
  },
  /** Done: `metadata` becomes the step's output, `endpoint` and `credentials` the workflow's. */
  completed(result: { endpoint?: string; credentials?: JsonObject; metadata?: JsonObject } = {}): Answer<PollBody> {
    return { status: 200, headers: json, body: { status: 'completed', ...result } };
  },
  /** Failed for good: the step fails with this error (unless the step sets retry.on_reported_failure). */
  failed(error: string, metadata?: JsonObject): Answer<PollBody> {
    return { status: 200, headers: json, body: { status: 'failed', error, ...(metadata ? { metadata } : {}) } };
  },
};

/** The answer that starts a poll step: 202 with Location (and body.poll_url, for clients that read bodies). */
export function pollStarted(pollUrl: string, body: JsonObject = {}): Answer<JsonObject> {
  return { status: 202, headers: { ...json, location: pollUrl }, body: { ...body, poll_url: pollUrl } };
}

/** The answer to a callback step's request: any 2xx; 202 says "I will call back". */
export function callbackAccepted(body: JsonObject = {}): Answer<JsonObject> {
  return { status: 202, headers: json, body };
}

/**
 * Asks Provisioner to try again later: 503 (or 429) with Retry-After. Retried with the same
 * Idempotency-Key attempt number only after a crash; a retry after this answer is a new attempt.
 */
export function retryLater(seconds: number, status: 429 | 503 = 503, error = 'busy; retry later'): Answer<JsonObject> {
  return { status, headers: { ...json, 'retry-after': String(Math.ceil(seconds)) }, body: { error } };
}
