import type { Json, JsonObject } from './json.js';
import type { Report } from './model.js';

/**
 * What one run of a step decided; the engine's transitions apply it (and the retry policy). `detail` is
 * operator-only text (a service's answer, a rendered request): it goes to the event history's `data`,
 * never to a field a tenant sees.
 */
export type StepOutcome =
  | { kind: 'completed'; output: Json; report?: Pick<Report, 'endpoint' | 'credentials'> }
  | {
      kind: 'waiting';
      status: 'waiting_callback' | 'waiting_poll';
      reason: string;
      nextRunAt: number;
      deadlineAt: number;
      state?: JsonObject;
      progress?: JsonObject | null;
      /** The answer that accepted the work, kept for templates (`steps.<name>.response`). */
      response?: Json;
    }
  | { kind: 'retry'; error: string; notBefore?: number; detail?: string }
  | { kind: 'failed'; error: string; detail?: string };
