import type { Store } from '../store/store.js';
import { workflowsRepo } from '../store/workflows-repo.js';
import { webhooksRepo } from '../store/webhooks-repo.js';
import type { CredentialCipher } from './credential-cipher.js';

export interface RotationCount { total: number; reencrypted: number }

/** Credential sets (the top-level counts) and webhook signing secrets, which share the cipher. */
export interface RotationResult extends RotationCount { webhookSecrets: RotationCount }

/**
 * Re-encrypts everything sealed with the credentials key that is not already under the current key:
 * workflow credentials and webhook subscription secrets. Safe to run while serving: each row is
 * replaced only if it did not change since it was read.
 */
export async function rotateCredentialKeys(store: Store, cipher: CredentialCipher): Promise<RotationResult> {
  const credentials = await rotateAll(cipher,
    (after) => workflowsRepo.listCredentials(store.db, after, 500).then((rows) => rows.map((r) => ({ id: r.id, sealed: r.credentials }))),
    (id, from, to) => workflowsRepo.replaceCredentials(store.db, id, from, to));
  const webhookSecrets = await rotateAll(cipher,
    (after) => webhooksRepo.listSecrets(store.db, after, 500).then((rows) => rows.map((r) => ({ id: r.id, sealed: r.secret }))),
    (id, from, to) => webhooksRepo.replaceSecret(store.db, id, from, to));
  return { ...credentials, webhookSecrets };
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
