import { randomBytes } from 'node:crypto';
import { servicesRepo } from '../store/services-repo.js';
import type { Queryable } from '../store/queryable.js';
import type { CredentialCipher } from './credential-cipher.js';

/**
 * Per-service request-signing secrets (DESIGN §12, docs/service-contract.md): issued at first registration,
 * shown once, stored sealed with the credential cipher, rotated on request. We sign with the newest only;
 * a service accepts its previous secret for a while on its side.
 */
export const issueSigningSecret = () => `pss_${randomBytes(32).toString('base64url')}`;

export const sealSigningSecret = (cipher: CredentialCipher, secret: string) => cipher.encrypt({ signing_secret: secret });

export function openSigningSecret(cipher: CredentialCipher, sealed: string): string {
  const v = cipher.decrypt(sealed).signing_secret;
  if (typeof v !== 'string') throw new Error('unreadable signing secret envelope');
  return v;
}

/**
 * The secret to sign requests to `slug` with, or null when the service has none (registered before
 * signing existed, or deregistered). Throws when the key that sealed it is not configured.
 */
export async function serviceSigningSecret(db: Queryable, cipher: CredentialCipher, slug: string): Promise<string | null> {
  const sealed = await servicesRepo.signingSecretSealed(db, slug);
  return sealed === null ? null : openSigningSecret(cipher, sealed);
}

const SIGNING_SECRET_TTL_MS = 5000;

/**
 * The executor's view: one read per service every few seconds, not one per step. A rotated secret is
 * used within SIGNING_SECRET_TTL_MS; the service accepts its previous secret meanwhile. A failed read
 * throws (the attempt runs again after its lease) rather than sending a request unsigned.
 */
export function createSigningSecrets(store: { db: Queryable }, cipher: CredentialCipher, now: () => number = Date.now) {
  const cache = new Map<string, { secret: string | null; until: number }>();
  return {
    async of(slug: string): Promise<string | null> {
      const hit = cache.get(slug);
      if (hit && hit.until > now()) return hit.secret;
      const secret = await serviceSigningSecret(store.db, cipher, slug);
      cache.set(slug, { secret, until: now() + SIGNING_SECRET_TTL_MS });
      return secret;
    },
  };
}
