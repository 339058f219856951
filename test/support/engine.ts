// Helpers for engine tests: manifests against a service sim, starting workflows, waiting on their state.
import { after, before } from 'node:test';
import { createExecutor, type Executor, type ExecutorHooks } from '../../src/engine/executor.js';
import type { WorkflowDetail } from '../../src/engine/workflow-queries.js';
import type { StepResponse } from '../../src/domain/views.js';
import type { Env } from '../../src/config.js';
import type { RuntimeOptions } from '../../src/runtime.js';
import type { JsonObject } from '../../src/domain/json.js';
import { eventually, startTestRuntime, type TestDialect, type TestRuntime } from './runtime.js';
import { startServiceSim, type RecordedRequest, type ServiceSim } from './service-sim.js';

/** Fast defaults: each test stays well under a second of waiting. */
export const FAST_RETRY = { max_attempts: 3, initial_s: 0.05, backoff: 1, max_s: 0.05 };

let seq = 0;
/** Slugs and tenants unique within the process, so tests can share one runtime. */
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

export function manifestFor(
  sim: ServiceSim,
  provision: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> & { slug: string } {
  return { slug: unique('svc'), name: 'Test service', version: '1.0.0', base_url: sim.url, provision, ...extra };
}

export interface Started {
  workflowId: string;
  tenantId: string;
  slug: string;
}

/** Registers the manifest (if not yet) and starts a workflow for a fresh tenant. */
export async function registerAndStart(
  rt: TestRuntime,
  manifest: Record<string, unknown> & { slug: string },
  opts: { tenantId?: string; parameters?: JsonObject; register?: boolean } = {},
): Promise<Started> {
  if (opts.register !== false) await rt.registry.register(manifest);
  const tenantId = opts.tenantId ?? unique('tenant');
  const { workflowId } = await rt.starter.start({
    tenantId,
    serviceSlug: manifest.slug,
    kind: 'provision',
    parameters: opts.parameters ?? {},
    idempotencyKey: null,
    actor: 'test',
  });
  return { workflowId, tenantId, slug: manifest.slug };
}

export function stepOf(d: WorkflowDetail, name: string): StepResponse {
  const s = d.steps.find((x) => x.name === name);
  if (!s) throw new Error(`workflow ${d.id} has no step ${name}`);
  return s;
}

function summary(d: WorkflowDetail | null): string {
  if (!d) return 'no detail read';
  return `workflow ${d.status}${d.error ? ` (${d.error})` : ''}; steps: ${d.steps.map((s) => `${s.name}=${s.status}${s.error ? ` (${s.error})` : ''}`).join(', ')}`;
}

/** Waits until the workflow detail satisfies `pred`; on timeout says where the workflow stood. */
export async function untilDetail(
  rt: TestRuntime,
  workflowId: string,
  what: string,
  pred: (d: WorkflowDetail) => boolean,
  timeoutMs = 5000,
): Promise<WorkflowDetail> {
  let last: WorkflowDetail | null = null;
  try {
    return await eventually(
      what,
      async () => {
        last = await rt.queries.detail(workflowId, null);
        return pred(last) ? last : null;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${summary(last)}`);
  }
}

export const untilWorkflow = (rt: TestRuntime, workflowId: string, status: string, timeoutMs?: number) =>
  untilDetail(rt, workflowId, `workflow to be ${status}`, (d) => d.status === status, timeoutMs);

export const untilStep = (rt: TestRuntime, workflowId: string, step: string, status: string, timeoutMs?: number) =>
  untilDetail(rt, workflowId, `step ${step} to be ${status}`, (d) => stepOf(d, step).status === status, timeoutMs);

export async function eventsOf(rt: TestRuntime, workflowId: string) {
  return (await rt.queries.events(workflowId, null, undefined, 1000)).items;
}

/** The callback token the engine sent in a request body (manifests put `{{callback.token}}` there). */
export function tokenOf(req: RecordedRequest): string {
  const body = req.body as { callback_token?: unknown } | null;
  if (!body || typeof body.callback_token !== 'string') throw new Error(`${req.method} ${req.path} carried no callback_token`);
  return body.callback_token;
}

/** A second executor on the runtime's store, as another replica would run it. */
export function extraExecutor(
  rt: TestRuntime,
  opts: { config?: Partial<TestRuntime['config']['worker']>; hooks?: ExecutorHooks } = {},
): Executor {
  return createExecutor({
    store: rt.store,
    cipher: rt.cipher,
    log: rt.log.child({ component: 'test-executor' }),
    config: { ...rt.config.worker, ...opts.config },
    publicUrl: rt.config.publicUrl,
    hooks: opts.hooks,
  });
}

/** One runtime for every test of a describe block; each test uses its own service slug, tenant and sim. */
export function sharedRuntime(dialect: TestDialect, env: Env = {}, opts: RuntimeOptions = {}): { readonly rt: TestRuntime } {
  let rt: TestRuntime | undefined;
  before(async () => {
    rt = await startTestRuntime(dialect, env, opts);
  });
  after(async () => {
    await rt?.dispose();
  });
  return {
    get rt() {
      if (!rt) throw new Error('runtime not started');
      return rt;
    },
  };
}

/** A service sim closed when the test ends. */
export async function simFor(t: { after(fn: () => Promise<void>): void }): Promise<ServiceSim> {
  const sim = await startServiceSim();
  t.after(() => sim.close());
  return sim;
}
