import type { TSchema } from 'typebox';
import type { JsonObject } from '../../domain/json.js';
import type { StepOutcome } from '../../domain/step-outcome.js';
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

export type { StepOutcome };

export interface StepType<S> {
  /** Runs the first attempt, a due poll, or an expired wait. Never writes to the database. */
  run(ctx: StepContext, spec: S): Promise<StepOutcome>;
  /** A final callback arrived for this step (callback types only). */
  onReport?(spec: S, report: Report, now: number): StepOutcome;
  /** How far an in_progress report moves the wait's deadline (types that take callbacks). */
  heartbeatMs?(spec: S): number;
}

export type { TSchema };
