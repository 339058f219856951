import type { Store } from '../store/store.js';
import { workflowsRepo } from '../store/workflows-repo.js';
import type { CredentialCipher } from './credential-cipher.js';

/** Re-encrypts every credential set not already under the current key; safe to run while serving. */
export async function rotateCredentialKeys(store: Store, cipher: CredentialCipher): Promise<{ total: number; reencrypted: number }> {
  let after = '';
  let total = 0;
  let reencrypted = 0;
  for (;;) {
    const batch = await workflowsRepo.listCredentials(store.db, after, 500);
    if (batch.length === 0) return { total, reencrypted };
    for (const row of batch) {
      total++;
      if (cipher.kidOf(row.credentials) === cipher.currentKid) continue;
      const fresh = cipher.encrypt(cipher.decrypt(row.credentials));
      if (await workflowsRepo.replaceCredentials(store.db, row.id, row.credentials, fresh)) reencrypted++;
    }
    after = batch[batch.length - 1].id;
  }
}
