/** The wire shapes between Provisioner and a service (docs/service-contract.md). */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** What a callback and a poll answer report. `in_progress` is a heartbeat (callback) or "not yet" (poll). */
export type ReportStatus = 'completed' | 'failed' | 'in_progress';

/** The body of POST /api/v1/provisioning/callback. */
export interface CallbackBody {
  callback_token: string;
  status: ReportStatus;
  /** The URL tenants use to reach what was provisioned; becomes the workflow's endpoint. */
  endpoint?: string | null;
  /** Stored encrypted; tenants read them once through the credentials endpoint. Never in outputs. */
  credentials?: JsonObject | null;
  /** Why it failed (status failed). */
  error?: string | null;
  /** Becomes the step's `output` (completed) or its progress (in_progress). */
  metadata?: JsonObject | null;
}

/** Provisioner's 200 answer to a callback. */
export interface CallbackAck {
  workflow_id: string;
  step_name: string;
  step_status: string;
  duplicate: boolean;
}

/** The body of a poll answer (HTTP 200): the same report shape as a callback, without the token. */
export interface PollBody {
  status: ReportStatus;
  endpoint?: string | null;
  credentials?: JsonObject | null;
  error?: string | null;
  metadata?: JsonObject | null;
}

/** An HTTP answer a service sends back; plug into any framework: `res.writeHead(a.status, a.headers).end(JSON.stringify(a.body))`. */
export interface Answer<B = Json> {
  status: number;
  headers: Record<string, string>;
  body: B;
}

/** What the X-Provisioner-* and Idempotency-Key headers of a request say. */
export interface RequestInfo {
  workflowId: string | null;
  tenantId: string | null;
  /** `<workflow_id>:<step>:<attempt>`; the same for a re-sent attempt, so use it to deduplicate. */
  idempotencyKey: string | null;
  step: string | null;
  /** A number, or `compensate-<n>` for a compensation request. */
  attempt: string | null;
}

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;
