import type { ValidationIssue } from './errors.js';

export const OUTBOUND_TOPICS = [
  'provisioning.workflow.started',
  'provisioning.workflow.completed',
  'provisioning.workflow.failed',
  'provisioning.workflow.rolled_back',
  'provisioning.workflow.cancelled',
  'provisioning.step.failed',
] as const;
export type OutboundTopic = (typeof OUTBOUND_TOPICS)[number];

/**
 * Subscription topics (DESIGN §9): an exact event type, or `prefix.*`, which matches every type that
 * starts with `prefix.` (`provisioning.*` is everything, `provisioning.workflow.*` the workflow events).
 */
export function topicMatches(pattern: string, topic: string): boolean {
  return pattern.endsWith('.*') ? topic.startsWith(pattern.slice(0, -1)) : pattern === topic;
}

export const matchesAny = (patterns: readonly string[], topic: string) => patterns.some((p) => topicMatches(p, topic));

/**
 * Every pattern must name a known type or a glob that matches at least one, so a typo
 * (`provisoning.*`) is refused at subscription time instead of silently receiving nothing.
 */
export function checkTopicPatterns(patterns: readonly string[], known: readonly string[], loc: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (patterns.length === 0) {
    issues.push({
      loc,
      msg: `needs at least one topic: one of ${known.join(', ')}, or a prefix glob such as provisioning.workflow.*`,
      type: 'too_short',
    });
  }
  patterns.forEach((p, i) => {
    const glob = p.endsWith('.*');
    const ok = glob ? /^[a-z_]+(\.[a-z_]+)*\.\*$/.test(p) && known.some((t) => topicMatches(p, t)) : known.includes(p);
    if (!ok) {
      issues.push({
        loc: [...loc, i],
        msg: glob
          ? `${JSON.stringify(p)} matches no event type; known types are ${known.join(', ')}`
          : `unknown event type ${JSON.stringify(p)}; use one of ${known.join(', ')}, or a prefix glob such as provisioning.*`,
        type: 'value_error',
      });
    }
  });
  return issues;
}
