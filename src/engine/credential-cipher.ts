import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import type { JsonObject } from '../domain/json.js';

/**
 * AES-256-GCM for credentials at rest. Each ciphertext names the key that made it (`kid`), so keys can
 * be rotated: the current key encrypts, any configured key decrypts.
 */
export interface CredentialCipher {
  readonly currentKid: string;
  /** Every configured key id, the current one first. */
  readonly kids: readonly string[];
  encrypt(value: JsonObject): string;
  decrypt(stored: string): JsonObject;
  kidOf(stored: string): string;
  /**
   * Derives a per-step callback token; only its hash is stored, and a retry derives the same one. With
   * the stored hash, the key that minted it is found among all configured keys, so a token handed out
   * before a key rotation is the one sent again after it.
   */
  callbackToken(stepId: string, storedHash?: string | null): string;
}

interface Sealed {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

export const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 12);

export function createCredentialCipher(current: string, old: readonly string[] = []): CredentialCipher {
  const currentKey = Buffer.from(current, 'base64');
  if (currentKey.length !== 32) throw new Error('PROVISIONER_SECRET_KEY must be 32 bytes in base64');
  const keys = new Map<string, Buffer>();
  for (const k of [current, ...old]) {
    const b = Buffer.from(k, 'base64');
    keys.set(keyId(b), b);
  }
  const currentKid = keyId(currentKey);
  const tokenKeyOf = (key: Buffer) => createHmac('sha256', key).update('provisioner callback tokens v1').digest();
  const tokenKeys = [...keys.values()].map(tokenKeyOf); // current key first (Map keeps insertion order)
  const tokenWith = (tokenKey: Buffer, stepId: string) => `cbt_${createHmac('sha256', tokenKey).update(stepId).digest('base64url')}`;

  const parse = (stored: string): Sealed => {
    const s = JSON.parse(stored) as Sealed;
    if (s.v !== 1 || typeof s.kid !== 'string') throw new Error('unreadable credentials envelope');
    return s;
  };

  return {
    currentKid,
    kids: Object.freeze([...keys.keys()]),
    encrypt(value) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      const sealed: Sealed = {
        v: 1,
        kid: currentKid,
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        ct: ct.toString('base64'),
      };
      return JSON.stringify(sealed);
    },
    decrypt(stored) {
      const s = parse(stored);
      const key = keys.get(s.kid);
      if (!key)
        throw new Error(`credentials were encrypted with key ${s.kid}, which is not configured; add it to PROVISIONER_OLD_SECRET_KEYS`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'));
      decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
      const pt = Buffer.concat([decipher.update(Buffer.from(s.ct, 'base64')), decipher.final()]);
      return JSON.parse(pt.toString('utf8')) as JsonObject;
    },
    kidOf: (stored) => parse(stored).kid,
    callbackToken(stepId, storedHash) {
      const tokens = tokenKeys.map((k) => tokenWith(k, stepId));
      return (storedHash ? tokens.find((t) => hashToken(t) === storedHash) : undefined) ?? tokens[0];
    },
  };
}

export const CALLBACK_TOKEN_PATTERN = /^cbt_[A-Za-z0-9_-]{43}$/;
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** A step's callback token is derived from its id, and anew for each operator retry (the old one stops working). */
export const tokenSubject = (s: { id: string; retry_count: number }) => (s.retry_count === 0 ? s.id : `${s.id}:r${s.retry_count}`);
