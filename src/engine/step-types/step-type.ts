import type { TSchema } from 'typebox';
import type { Json, JsonObject } from '../../domain/json.js';
import type { Report } from '../../domain/model.js';
import type { TemplateScope } from '../../domain/template.js';
import type { Outbound } from '../outbound.js';

/** Why the executor runs a step now: its attempt starts, a poll is due, or its wait passed the deadline. */
export type Trigger = 'attempt' | 'poll' | 'deadline';

export interface StepContext {
  trigger: Trigger;
  now: number;
  stepName: string;
  attempt: number;
  /** Step-type-private state kept between runs (e.g. the poll URL). */
  state: JsonObject;
  deadlineAt: number | null;
  pollCount: number;
  timeoutMs: number;
  scope: TemplateScope;
  http: Outbound;
  signal: AbortSignal;
}

/** What a step type decides; the engine applies it (and the retry policy) in one transaction. */
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
  }
  | { kind: 'retry'; error: string; notBefore?: number }
  | { kind: 'failed'; error: string };

export interface StepType<S> {
  /** Runs the first attempt, a due poll, or an expired wait. Never writes to the database. */
  run(ctx: StepContext, spec: S): Promise<StepOutcome>;
  /** A final callback arrived for this step (callback types only). */
  onReport?(spec: S, report: Report, now: number): StepOutcome;
}

export type { TSchema };
