import { createHmac, timingSafeEqual } from 'node:crypto';
import { Unauthorized } from '../domain/errors.js';

/** ScaiControl signs within this much of our clock; older or newer → 401 (it retries). */
export const INTAKE_TOLERANCE_MS = 5 * 60 * 1000;

/**
 * `X-ScaiControl-Signature: sha256=<hex>` is an HMAC-SHA256 of the raw body, or of `"<timestamp>.<raw body>"`;
 * both are accepted, with any configured secret (rotation), compared in constant time.
 */
export function verifyIntakeSignature(o: {
  secrets: readonly string[];
  signature: unknown;
  timestamp: unknown;
  raw: Buffer;
  now: number;
}): void {
  if (typeof o.timestamp !== 'string' || !/^\d{1,15}$/.test(o.timestamp.trim())) {
    throw new Unauthorized('X-ScaiControl-Timestamp is missing or not unix seconds; sign the request as ScaiControl does');
  }
  const ts = o.timestamp.trim();
  if (Math.abs(o.now - Number(ts) * 1000) > INTAKE_TOLERANCE_MS) {
    throw new Unauthorized('X-ScaiControl-Timestamp is more than 5 minutes from our clock; check both clocks and send the event again');
  }
  const m = typeof o.signature === 'string' ? /^sha256=([0-9a-fA-F]{64})$/.exec(o.signature.trim()) : null;
  if (!m) throw new Unauthorized('X-ScaiControl-Signature is missing or not sha256=<64 hex digits>');
  const given = Buffer.from(m[1].toLowerCase(), 'hex');
  const signed = [o.raw, Buffer.concat([Buffer.from(`${ts}.`), o.raw])];
  let match = false;
  for (const secret of o.secrets) {
    for (const bytes of signed) {
      // No early exit: every candidate is compared, so timing says nothing about which one matched.
      if (timingSafeEqual(createHmac('sha256', secret).update(bytes).digest(), given)) match = true;
    }
  }
  if (!match)
    throw new Unauthorized(
      'X-ScaiControl-Signature does not match the body under any configured secret; check PROVISIONER_INTAKE_SECRET against the webhook secret in ScaiControl',
    );
}

/** The signature ScaiControl sends over `"<timestamp>.<body>"` (tests and the README's examples). */
export function signIntake(secret: string, timestampS: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}
