import type { DelayStepSpec } from '../../domain/step-specs.js';
import type { StepType } from './step-type.js';

/** Waits a fixed time. The wait is a deadline like any other, so it survives restarts. */
export const delayStep: StepType<DelayStepSpec> = {
  async run(ctx, spec) {
    if (ctx.trigger === 'deadline') return { kind: 'completed', output: { waited_s: spec.delay.seconds } };
    const until = ctx.now + spec.delay.seconds * 1000;
    return {
      kind: 'waiting',
      status: 'waiting_poll',
      reason: `delay until ${new Date(until).toISOString()}`,
      nextRunAt: until,
      deadlineAt: until,
    };
  },
};
