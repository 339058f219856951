import type { WorkflowDetail } from '../engine/workflow-queries.js';

const COLOURS: Record<string, string> = {
  completed: '32',
  compensated: '32',
  running: '36',
  waiting_callback: '36',
  waiting_poll: '36',
  compensating: '35',
  pending: '90',
  failed: '31',
  rolling_back: '35',
  rolled_back: '33',
  cancelled: '33',
  skipped: '90',
};
const paint = (status: string, text: string, colour: boolean) => (colour ? `\x1b[${COLOURS[status] ?? '0'}m${text}\x1b[0m` : text);

/** A workflow as terminal text: header and one line per step with what it waits for. */
export function renderWorkflow(d: WorkflowDetail, colour = process.stdout.isTTY === true): string {
  const lines = [
    `${d.id}  ${d.kind} ${d.service_slug}@${d.service_version}  tenant ${d.tenant_id}`,
    `status ${paint(d.status, d.status, colour)}  ${d.steps_completed}/${d.steps_total} steps${d.endpoint ? `  endpoint ${d.endpoint}` : ''}`,
  ];
  if (d.error) lines.push(`error: ${d.error}`);
  lines.push('');
  const width = Math.max(...d.steps.map((s) => s.name.length), 4);
  for (const s of d.steps) {
    const detail = s.error ?? s.waiting_reason ?? '';
    lines.push(
      `  ${s.name.padEnd(width)}  ${paint(s.status, s.status.padEnd(16), colour)} ${s.type.padEnd(8)} attempt ${s.attempt}/${s.max_attempts}  ${detail}`,
    );
  }
  return lines.join('\n');
}

export const TERMINAL_STATUSES = new Set(['completed', 'rolled_back', 'cancelled', 'failed']);
