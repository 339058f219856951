import type { Store } from '../store/store.js';
import { stepsRepo } from '../store/steps-repo.js';
import { NotFound, ProvisionerError } from '../domain/errors.js';
import type { Report } from '../domain/model.js';
import { specOf } from '../domain/records.js';
import { reportHash } from '../domain/report.js';
import type { StepTypeName } from '../domain/step-specs.js';
import type { StepOutcome } from '../domain/step-outcome.js';
import { receiveReport, type CallbackOutcome, type CallbackResult } from '../domain/transitions/callback-reports.js';
import { CALLBACK_TOKEN_PATTERN, hashToken, type CredentialCipher } from './credential-cipher.js';
import { stepTypeOf } from './step-types/index.js';
import { sealEarlyReport } from './early-report.js';
import type { CommitQueue } from './commit-queue.js';

export const CALLBACK_PATH = '/api/v1/provisioning/callback';
export const callbackUrl = (publicUrl: string) => `${publicUrl}${CALLBACK_PATH}`;

export type { CallbackResult };

export interface CallbackDeps {
  store: Store;
  cipher: CredentialCipher;
  commits: CommitQueue;
  onOutcome?: (outcome: CallbackOutcome | 'rejected') => void;
}

const UNKNOWN = 'unknown callback token; use the callback_token sent with the request';

/**
 * A service reports on a callback step (DESIGN §5.1). The token finds the step; the decision is made
 * on the workflow's locked rows in the commit queue, and the answer is sent only once it is durable.
 */
export function createCallbackReceiver(deps: CallbackDeps) {
  async function receive(token: string, report: Report): Promise<CallbackResult> {
    // The format is checked before any lookup, so garbage never reaches the database.
    if (!CALLBACK_TOKEN_PATTERN.test(token)) throw new NotFound(UNKNOWN);
    const found = await stepsRepo.findByTokenHash(deps.store.db, hashToken(token));
    if (!found) throw new NotFound(UNKNOWN);
    const hash = reportHash(report);
    try {
      const { result, outcome } = await deps.commits.submit(found.workflow_id, (d) => {
        const s = d.stepById(found.id);
        // An operator's retry-step issued a new token since the lookup: this one no longer works.
        if (!s || s.callback_token_hash !== found.callback_token_hash) throw new NotFound(UNKNOWN);
        const type = stepTypeOf(s.type as StepTypeName);
        const spec = specOf(s);
        return receiveReport(d, s, report, {
          hash,
          outcomeOf: type.onReport ? (r) => type.onReport?.(spec, r, d.now) as StepOutcome : null,
          heartbeatMs: type.heartbeatMs?.(spec) ?? 0,
          sealEarly: (r) => sealEarlyReport(r, deps.cipher),
        });
      });
      deps.onOutcome?.(outcome);
      return result;
    } catch (e) {
      if (e instanceof ProvisionerError) deps.onOutcome?.('rejected');
      throw e;
    }
  }

  return { receive };
}
