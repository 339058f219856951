import { Command, Option } from 'commander';
import type { Runtime } from '../runtime.js';
import type { WorkflowDetail } from '../engine/workflow-queries.js';
import { WorkflowKinds, WorkflowStatuses } from '../domain/model.js';
import { configFrom, positiveInt, withDatabaseFlags } from './options.js';
import { renderWorkflow, TERMINAL_STATUSES } from './render.js';

export function workflowsCommand(): Command {
  const cmd = new Command('workflows').description('inspect workflows (reads the database directly)');

  cmd.addCommand(
    withDatabaseFlags(new Command('list').description('newest first'))
      .option('--tenant <id>', 'only this tenant')
      .addOption(new Option('--status <status>', 'only this status').choices(WorkflowStatuses))
      .addOption(new Option('--kind <kind>', 'only this kind').choices(WorkflowKinds))
      .option('--service <slug>', 'only this service')
      .option('--limit <n>', 'rows (1-500)', positiveInt('--limit', 500), 20)
      .action(async (o) =>
        withRuntime(o, async (rt) => {
          const r = await rt.queries.list({ tenantId: o.tenant, status: o.status, serviceSlug: o.service, kind: o.kind, limit: o.limit });
          for (const w of r.items) {
            process.stdout.write(
              `${w.id}  ${w.status.padEnd(12)} ${w.kind.padEnd(11)} ${w.service_slug.padEnd(16)} ${w.tenant_id.padEnd(16)} ${w.steps_completed}/${w.steps_total}  ${w.created_at}\n`,
            );
          }
          if (r.items.length === 0) process.stdout.write('no workflows\n');
        }),
      ),
  );

  cmd.addCommand(
    withDatabaseFlags(new Command('show').description('a workflow and its steps'))
      .argument('<id>')
      .action(async (id: string, o) =>
        withRuntime(o, async (rt) => {
          process.stdout.write(`${renderWorkflow(await rt.queries.detail(id, null))}\n`);
        }),
      ),
  );

  cmd.addCommand(
    withDatabaseFlags(
      new Command('watch').description(
        'show the steps live until the workflow ends (on a terminal: redrawn on change; otherwise one line per change)',
      ),
    )
      .argument('<id>')
      .option('--interval <ms>', 'how often to look, in ms', positiveInt('--interval', 60_000), 500)
      .action(async (id: string, o) =>
        withRuntime(o, async (rt) => {
          await watchWorkflow(rt, id, o.interval);
        }),
      ),
  );
  return cmd;
}

type Out = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };

/** What changed between two looks at a workflow, one line each (for logs and pipes). */
export function changeLines(before: WorkflowDetail | null, now: WorkflowDetail, at = new Date().toISOString()): string[] {
  const lines: string[] = [];
  if (!before) {
    lines.push(`${at} ${now.id} ${now.kind} ${now.service_slug} tenant ${now.tenant_id}: ${now.status}`);
    for (const s of now.steps) lines.push(`${at}   ${s.name}: ${s.status}${s.waiting_reason ? ` (${s.waiting_reason})` : ''}`);
    return lines;
  }
  const old = new Map(before.steps.map((s) => [s.name, s]));
  for (const s of now.steps) {
    const prev = old.get(s.name);
    if (prev?.status === s.status && prev.attempt === s.attempt) continue;
    const detail = s.error ?? s.waiting_reason;
    lines.push(
      `${at}   ${s.name}: ${prev?.status ?? '-'} → ${s.status}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}${detail ? ` (${detail})` : ''}`,
    );
  }
  if (before.status !== now.status) lines.push(`${at} workflow: ${before.status} → ${now.status}${now.error ? ` (${now.error})` : ''}`);
  return lines;
}

/** Redraws (terminal) or prints the changes (pipe, file) until the workflow ends; nothing is written while nothing changes. */
export async function watchWorkflow(
  rt: Pick<Runtime, 'queries'>,
  id: string,
  intervalMs: number,
  out: Out = process.stdout,
): Promise<string> {
  let last: WorkflowDetail | null = null;
  let lastFrame = '';
  for (;;) {
    const d = await rt.queries.detail(id, null);
    if (out.isTTY) {
      const frame = renderWorkflow(d, true);
      if (frame !== lastFrame) out.write(`\x1b[H\x1b[2J${frame}\n`);
      lastFrame = frame;
    } else {
      for (const line of changeLines(last, d)) out.write(`${line}\n`);
    }
    last = d;
    if (TERMINAL_STATUSES.has(d.status) && !d.steps.some((s) => ['running', 'compensating'].includes(s.status))) return d.status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function withRuntime(flags: Record<string, string>, fn: (rt: Runtime) => Promise<void>) {
  const { createRuntime } = await import('../runtime.js');
  const rt = await createRuntime(configFrom(flags), { executor: false });
  try {
    await fn(rt);
  } finally {
    await rt.close();
  }
}
