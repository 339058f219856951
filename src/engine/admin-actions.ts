import type { Store } from '../store/store.js';
import { Conflict } from '../domain/errors.js';
import type { Actor } from '../domain/workflow-draft.js';
import { cancel, forceComplete, resolveRollback, retryStep } from '../domain/transitions/operator-actions.js';
import { hashToken, tokenSubject, type CredentialCipher } from './credential-cipher.js';
import type { CommitQueue } from './commit-queue.js';

export type { Actor };

/** Operator repairs (DESIGN §5 admin): decided on the workflow's locked rows, committed before the answer. */
export function createAdminActions(deps: { store: Store; cipher: CredentialCipher; commits: CommitQueue }) {
  const { store, commits } = deps;
  const tokenHashFor = (id: string, retryCount: number) =>
    hashToken(deps.cipher.callbackToken(tokenSubject({ id, retry_count: retryCount })));

  return {
    forceComplete: (workflowId: string, a: Actor) => commits.submit(workflowId, (d) => forceComplete(d, a)),
    cancel: (workflowId: string, compensate: boolean, a: Actor) => commits.submit(workflowId, (d) => cancel(d, compensate, a)),
    resolve: (workflowId: string, a: Actor) => commits.submit(workflowId, (d) => resolveRollback(d, a)),
    retryStep: (workflowId: string, stepName: string, a: Actor) =>
      commits
        .submit(workflowId, (d) => retryStep(d, stepName, a, tokenHashFor))
        .catch((e: unknown) => {
          if (store.dialect.isUniqueViolation(e))
            throw new Conflict(`another workflow of this tenant and service is active; cancel it before retrying ${workflowId}`);
          throw e;
        }),
  };
}

export type AdminActions = ReturnType<typeof createAdminActions>;
