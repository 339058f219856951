import type { SpecOf, StepTypeName } from '../../domain/step-specs.js';
import { callbackStep } from './callback.js';
import { delayStep } from './delay.js';
import { httpStep } from './http.js';
import { pollStep } from './poll.js';
import type { StepType } from './step-type.js';

/** A new step type is one module plus one entry here; the compiler names anything missing. */
export const stepTypes = {
  http: httpStep,
  callback: callbackStep,
  poll: pollStep,
  delay: delayStep,
} satisfies { [K in StepTypeName]: StepType<SpecOf<K>> };

export function stepTypeOf(type: StepTypeName): StepType<SpecOf<StepTypeName>> {
  return stepTypes[type] as StepType<SpecOf<StepTypeName>>;
}
