import type { ServiceManifest, StepSection } from './manifest.js';
import type { StepSpec } from './step-specs.js';
import { templateRefs } from './template.js';
import type { Json } from './json.js';

/** A manifest that is valid but probably does not do what its author meant. */
export interface LintWarning {
  loc: (string | number)[];
  msg: string;
  type: string;
}

const sectionsOf = (m: ServiceManifest): [StepSection, StepSpec[]][] =>
  (Object.entries(m) as [string, unknown][])
    .filter(([k, v]) => k !== 'parameters' && Array.isArray(v))
    .map(([k, v]) => [k as StepSection, v as StepSpec[]]);

/**
 * Traps a checked manifest can still hold (best effort; each warning says why it is likely wrong):
 * a callback step whose request never hands over callback.url / callback.token (it can only time out),
 * a compensation reading an output field that no answer is known to provide, and a step nothing
 * depends on that produces nothing.
 */
export function lintManifest(m: ServiceManifest): LintWarning[] {
  const warnings: LintWarning[] = [];
  for (const [section, steps] of sectionsOf(m)) {
    const byName = new Map(steps.map((s) => [s.name, s]));
    steps.forEach((step, i) => {
      const loc = [section, i];
      if (step.type === 'callback') {
        const refs = step.request ? templateRefs(step.request as unknown as Json) : [];
        const sendsUrl = refs.some((r) => r.trim() === 'callback.url');
        const sendsToken = refs.some((r) => r.trim() === 'callback.token');
        if (!step.request) {
          warnings.push({
            loc,
            msg: `step "${step.name}" is a callback step without a request: no service learns its callback token, so it can only time out; add a request that sends {{callback.url}} and {{callback.token}}`,
            type: 'callback_never_sent',
          });
        } else if (!sendsToken || !sendsUrl) {
          const missing = [sendsUrl ? null : '{{callback.url}}', sendsToken ? null : '{{callback.token}}'].filter(Boolean).join(' and ');
          warnings.push({
            loc: [...loc, 'request'],
            msg: `step "${step.name}" waits for a callback but its request never sends ${missing}; the service cannot call back and the step will time out`,
            type: 'callback_never_sent',
          });
        }
      }
      if (step.compensate) {
        for (const ref of templateRefs(step.compensate as unknown as Json)) {
          const w = outputRefWarning(ref.trim(), byName);
          if (w)
            warnings.push({
              loc: [...loc, 'compensate'],
              msg: `step "${step.name}" compensation reads {{${ref.trim()}}}: ${w}`,
              type: 'output_maybe_missing',
            });
        }
      }
    });
    const dependedOn = new Set(steps.flatMap((s) => s.depends_on ?? []));
    steps.forEach((step, i) => {
      if (step.type === 'delay' && !dependedOn.has(step.name)) {
        warnings.push({
          loc: [section, i],
          msg: `step "${step.name}" is a delay that nothing depends on: it reports no endpoint or output and only makes the workflow end later; remove it or list it in a later step's depends_on`,
          type: 'step_without_effect',
        });
      }
    });
  }
  return warnings;
}

function outputRefWarning(ref: string, byName: Map<string, StepSpec>): string | null {
  const [root, name, output, field] = ref.split('.');
  if (root !== 'steps' || output !== 'output' || name === undefined) return null;
  const source = byName.get(name);
  if (!source) return null;
  if (source.type === 'delay') {
    return field === 'waited_s' ? null : `a delay step's output has only waited_s`;
  }
  if ((source.type === 'callback' || source.type === 'poll') && field !== undefined) {
    return `the output of ${source.type} step "${name}" is the "metadata" object of its ${source.type === 'callback' ? 'callback' : 'final poll answer'}; make sure the service sends metadata.${field}, or read the value from an http step's response`;
  }
  return null;
}
