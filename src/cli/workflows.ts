import { Command } from 'commander';
import { createRuntime, type Runtime } from '../runtime.js';
import { configFrom, withConfigFlags } from './options.js';
import { renderWorkflow, TERMINAL_STATUSES } from './render.js';

export function workflowsCommand(): Command {
  const cmd = new Command('workflows').description('inspect workflows (reads the database directly)');

  cmd.addCommand(withConfigFlags(new Command('list').description('newest first'))
    .option('--tenant <id>').option('--status <status>').option('--service <slug>').option('--limit <n>', 'rows', '20')
    .action(async (o) => withRuntime(o, async (rt) => {
      const r = await rt.queries.list({ tenantId: o.tenant, status: o.status, serviceSlug: o.service, limit: Number(o.limit) });
      for (const w of r.items) {
        process.stdout.write(`${w.id}  ${w.status.padEnd(12)} ${w.kind.padEnd(11)} ${w.service_slug.padEnd(16)} ${w.tenant_id.padEnd(16)} ${w.steps_completed}/${w.steps_total}  ${w.created_at}\n`);
      }
      if (r.items.length === 0) process.stdout.write('no workflows\n');
    })));

  cmd.addCommand(withConfigFlags(new Command('show').description('a workflow and its steps')).argument('<id>')
    .action(async (id: string, o) => withRuntime(o, async (rt) => {
      process.stdout.write(`${renderWorkflow(await rt.queries.detail(id, null))}\n`);
    })));

  cmd.addCommand(withConfigFlags(new Command('watch').description('redraw the steps live until the workflow ends')).argument('<id>')
    .option('--interval <ms>', 'redraw interval', '500')
    .action(async (id: string, o) => withRuntime(o, async (rt) => {
      await watchWorkflow(rt, id, Number(o.interval));
    })));
  return cmd;
}

export async function watchWorkflow(rt: Runtime, id: string, intervalMs: number, out: NodeJS.WriteStream = process.stdout): Promise<string> {
  for (;;) {
    const d = await rt.queries.detail(id, null);
    const text = renderWorkflow(d, out.isTTY === true);
    out.write(out.isTTY ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
    if (TERMINAL_STATUSES.has(d.status) && !d.steps.some((s) => ['running', 'compensating'].includes(s.status))) return d.status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function withRuntime(flags: Record<string, string>, fn: (rt: Runtime) => Promise<void>) {
  const rt = await createRuntime(configFrom(flags), { executor: false });
  try { await fn(rt); } finally { await rt.close(); }
}
