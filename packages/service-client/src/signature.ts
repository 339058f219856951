import { createHmac, timingSafeEqual } from 'node:crypto';
import { header } from './headers.js';
import type { HeaderBag } from './types.js';

export const TIMESTAMP_HEADER = 'x-provisioner-timestamp';
export const SIGNATURE_HEADER = 'x-provisioner-signature';

export interface VerifyOptions {
  headers: HeaderBag;
  /** The body exactly as received (before any JSON parsing); empty string or empty buffer when there is none. */
  rawBody: string | Uint8Array;
  /** The service's signing secrets: during a rotation, the new one and the old one. */
  secrets: readonly string[];
  /** How far the timestamp may be from now, in seconds (default 300), against replays. */
  toleranceS?: number;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

export type VerifyFailure = 'missing_signature' | 'malformed_signature' | 'stale_timestamp' | 'bad_signature' | 'no_secrets';
export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: VerifyFailure; message: string };

const toBuffer = (b: string | Uint8Array) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`: the value of X-Provisioner-Signature. */
export function computeSignature(secret: string, timestamp: number | string, rawBody: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(toBuffer(rawBody));
  return `sha256=${mac.digest('hex')}`;
}

/** The two headers Provisioner sends, for tests of a service: `fetch(url, {headers: signedHeaders(...)})`. */
export function signedHeaders(secret: string, rawBody: string | Uint8Array, now = Date.now()): Record<string, string> {
  const ts = Math.floor(now / 1000);
  return { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: computeSignature(secret, ts, rawBody) };
}

/**
 * Checks that a request comes from Provisioner: a fresh timestamp and a signature made with one of the
 * secrets, compared in constant time. Answer 401 when `ok` is false; `message` says why (log it).
 */
export function verifyRequest(o: VerifyOptions): VerifyResult {
  const secrets = o.secrets.filter((s) => s.length > 0);
  if (secrets.length === 0) return { ok: false, reason: 'no_secrets', message: 'no signing secret configured; set the secret Provisioner issued at registration' };
  const ts = header(o.headers, TIMESTAMP_HEADER);
  const sig = header(o.headers, SIGNATURE_HEADER);
  if (ts === null || sig === null) return { ok: false, reason: 'missing_signature', message: 'the request has no X-Provisioner-Timestamp or X-Provisioner-Signature header' };
  if (!/^\d{1,12}$/.test(ts) || !/^sha256=[0-9a-f]{64}$/i.test(sig.trim())) {
    return { ok: false, reason: 'malformed_signature', message: 'X-Provisioner-Timestamp must be unix seconds and X-Provisioner-Signature sha256=<64 hex digits>' };
  }
  const now = (o.now ?? Date.now)();
  const skewS = Math.abs(now / 1000 - Number(ts));
  if (skewS > (o.toleranceS ?? 300)) {
    return { ok: false, reason: 'stale_timestamp', message: `the timestamp is ${Math.round(skewS)} s from this server's clock (tolerance ${o.toleranceS ?? 300} s)` };
  }
  const given = Buffer.from(sig.trim().toLowerCase(), 'utf8');
  let match = false;
  // Every secret is compared, even after a match, so timing does not tell which one matched.
  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature(secret, ts, o.rawBody), 'utf8');
    if (expected.length === given.length && timingSafeEqual(expected, given)) match = true;
  }
  if (!match) return { ok: false, reason: 'bad_signature', message: 'the signature does not match the body with any configured secret' };
  return { ok: true, timestamp: Number(ts) };
}
