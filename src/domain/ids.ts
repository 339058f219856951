import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

/** ULID: 48-bit time + 80-bit randomness, monotonic within one process (lexical order = creation order). */
export function ulid(now = Date.now()): string {
  let rnd: Uint8Array;
  if (now <= lastTime) {
    rnd = lastRandom.slice();
    for (let i = rnd.length - 1; i >= 0; i--) {
      if (rnd[i] === 255) {
        rnd[i] = 0;
      } else {
        rnd[i]++;
        break;
      }
    }
    now = lastTime;
  } else {
    rnd = randomBytes(10);
  }
  lastTime = now;
  lastRandom = rnd;
  let out = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  let bits = 0;
  let value = 0;
  for (const byte of rnd) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export const newWorkflowId = () => `wf_${ulid()}`;
export const newEventId = () => `evt_${ulid()}`;
export const newRequestId = () => `req_${ulid()}`;
export const newSubscriptionId = () => `whs_${ulid()}`;
export const newDeliveryId = () => `whd_${ulid()}`;
export const newVersionId = () => `svv_${ulid()}`;
export const newRegistryAuditId = () => `rga_${ulid()}`;

export const WORKFLOW_ID_PATTERN = '^wf_[0-9A-HJKMNP-TV-Z]{26}$';
