// Signed ScaiControl-shaped events for the intake tests.
import { signIntake } from '../../src/engine/intake-signature.js';
import type { ApiHarness } from '../support/api.js';

export const INTAKE_SECRET = 'whsec-test-0123456789';

let n = 0;
export interface EventInput {
  type: string;
  tenant: string;
  slug: string;
  subscription?: string;
  /** Seconds after a fixed base: the event's occurred_at. */
  at: number;
  data?: Record<string, unknown>;
  eventId?: string;
  idempotencyKey?: string;
}

const BASE = Date.parse('2026-11-01T00:00:00Z');

export function envelope(e: EventInput) {
  const id = e.eventId ?? `evt_sc_${process.pid}_${++n}`;
  return {
    event_id: id,
    event_type: e.type,
    event_version: '1.0',
    occurred_at: new Date(BASE + e.at * 1000).toISOString(),
    source: 'scaicontrol',
    idempotency_key: e.idempotencyKey ?? `idem-${id}`,
    data: { subscription_id: e.subscription ?? `sub-${e.tenant}`, tenant_id: e.tenant, service_slug: e.slug, ...e.data },
  };
}

/** POSTs the body as ScaiControl does: raw JSON, HMAC over "<ts>.<body>". */
export async function sendEvent(
  api: Pick<ApiHarness, 'call'>,
  body: unknown,
  opts: { secret?: string; timestampS?: number; signature?: string; contentType?: string } = {},
) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const ts = opts.timestampS ?? Math.floor(Date.now() / 1000);
  return api.call({
    method: 'POST',
    url: '/api/v1/events/subscriptions',
    payload: raw,
    headers: {
      'content-type': opts.contentType ?? 'application/json',
      'x-scaicontrol-timestamp': String(ts),
      'x-scaicontrol-signature': opts.signature ?? signIntake(opts.secret ?? INTAKE_SECRET, ts, raw),
    },
  });
}
