import type { Store } from '../store/store.js';
import { workflowsRepo } from '../store/workflows-repo.js';
import { webhooksRepo } from '../store/webhooks-repo.js';
import type { CredentialCipher } from './credential-cipher.js';
import { sealedKeysRepo } from '../store/sealed-keys-repo.js';
import { servicesRepo } from '../store/services-repo.js';

export interface RotationCount {
  total: number;
  reencrypted: number;
}

/** Credential sets (the top-level counts) and webhook signing secrets, which share the cipher. */
export interface RotationResult extends RotationCount {
  webhookSecrets: RotationCount;
  signingSecrets: RotationCount;
}

/**
 * Re-encrypts everything sealed with the credentials key that is not already under the current key:
 * workflow credentials, webhook subscription secrets and service signing secrets. Safe to run while serving: each row is
 * replaced only if it did not change since it was read.
 */
export async function rotateCredentialKeys(store: Store, cipher: CredentialCipher): Promise<RotationResult> {
  const credentials = await rotateAll(
    cipher,
    (after) => workflowsRepo.listCredentials(store.db, after, 500).then((rows) => rows.map((r) => ({ id: r.id, sealed: r.credentials }))),
    (id, from, to) => workflowsRepo.replaceCredentials(store.db, id, from, to),
  );
  const webhookSecrets = await rotateAll(
    cipher,
    (after) => webhooksRepo.listSecrets(store.db, after, 500).then((rows) => rows.map((r) => ({ id: r.id, sealed: r.secret }))),
    (id, from, to) => webhooksRepo.replaceSecret(store.db, id, from, to),
  );
  const signingSecrets = await rotateAll(
    cipher,
    async (after) =>
      after === '' ? (await servicesRepo.listSigningSecrets(store.db)).map((r) => ({ id: r.slug, sealed: r.signing_secret })) : [],
    (slug, from, to) => servicesRepo.replaceSigningSecret(store.db, slug, from, to),
  );
  return { ...credentials, webhookSecrets, signingSecrets };
}

async function rotateAll(
  cipher: CredentialCipher,
  list: (afterId: string) => Promise<{ id: string; sealed: string }[]>,
  replace: (id: string, from: string, to: string) => Promise<boolean>,
): Promise<RotationCount> {
  let after = '';
  let total = 0;
  let reencrypted = 0;
  for (;;) {
    const batch = await list(after);
    if (batch.length === 0) return { total, reencrypted };
    for (const row of batch) {
      total++;
      if (cipher.kidOf(row.sealed) === cipher.currentKid) continue;
      if (await replace(row.id, row.sealed, cipher.encrypt(cipher.decrypt(row.sealed)))) reencrypted++;
    }
    after = batch[batch.length - 1].id;
  }
}

/** A stored value was sealed with a key that is not configured: starting would only fail later, step by step. */
export class MissingKeyError extends Error {
  constructor(readonly missing: { kid: string; where: string }[]) {
    super(
      `cannot start: ${missing.map((m) => `${m.where} were encrypted with key id ${m.kid}`).join('; ')}, and no configured key has that id. ` +
        'Set PROVISIONER_SECRET_KEY to that key, or add it to PROVISIONER_OLD_SECRET_KEYS (comma-separated) next to the new one, then run `provisioner keys rotate`. ' +
        "A key's id is the first 12 hex digits of the SHA-256 of its 32 bytes: node -e \"console.log(require('crypto').createHash('sha256').update(Buffer.from(process.argv[1], 'base64')).digest('hex').slice(0, 12))\" <key>",
    );
    this.name = 'MissingKeyError';
  }
}

/** Stops the start (and `keys rotate`) when anything stored names a key id that no configured key has. */
export async function checkStoredKeys(store: Store, cipher: CredentialCipher): Promise<void> {
  const missing = await sealedKeysRepo.unknownKeys(store.db, cipher.kids);
  if (missing.length > 0) throw new MissingKeyError(missing);
}
