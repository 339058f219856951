// Random manifests and service behaviours for the property tests, an oracle for the outcome they must
// have, and a checker of the state machines of DESIGN §7 over a workflow's final rows and its history.
import fc from 'fast-check';
import type { WorkflowDetail, EventView } from '../../src/engine/workflow-queries.js';
import type { RecordedRequest } from '../support/service-sim.js';

export type StepKind = 'http' | 'callback' | 'poll' | 'delay';

/** How the service answers a step's request (every attempt of it). */
export type RequestBehaviour =
  | { kind: 'ok' | 'creds' | 'nonjson' }
  | { kind: 'flaky'; failures: number; how: '5xx' | 'reset' | 'hang' }
  | { kind: '5xx' | 'hang' | 'reset' | '4xx' | 'huge' };

/** What the service does with the callback token once its request was answered 2xx (early: before answering). */
export type CallbackBehaviour = 'normal' | 'fail' | 'early' | 'duplicate' | 'reordered' | 'heartbeat' | 'late' | 'never';

export interface PollBehaviour {
  progress: number;
  end: 'completed' | 'failed' | 'garbage' | '5xx' | 'hang';
}

export type CompensationBehaviour = 'ok' | '5xx-once' | '4xx';

export interface StepScenario {
  kind: StepKind;
  request: RequestBehaviour;
  callback: CallbackBehaviour;
  poll: PollBehaviour;
  delayS: number;
  maxAttempts: number;
  compensate: CompensationBehaviour | null;
  /** depsMask[j] for j < own index: depends on step j. */
  depsMask: boolean[];
}

export interface Scenario {
  onFailure: 'rollback' | 'hold';
  steps: StepScenario[];
}

/**
 * Timing of every generated manifest: short, with room for a loaded machine. A step that meets a
 * hanging service gets a short request timeout; every other step a long one, so a slow machine
 * cannot turn an answer into a timeout.
 */
export const TIMING = {
  hangTimeoutS: 0.5,
  requestTimeoutS: 10,
  waitTimeoutS: 2.5,
  pollIntervalS: 0.05,
  pollTimeoutS: 3,
  retryS: 0.01,
} as const;

const meetsHang = (s: StepScenario) =>
  s.request.kind === 'hang' || (s.request.kind === 'flaky' && s.request.how === 'hang') || (s.kind === 'poll' && s.poll.end === 'hang');

const requestBehaviour: fc.Arbitrary<RequestBehaviour> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<RequestBehaviour>({ kind: 'ok' }, { kind: 'creds' }, { kind: 'nonjson' }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('flaky' as const),
      failures: fc.integer({ min: 1, max: 2 }),
      how: fc.constantFrom('5xx' as const, 'reset' as const, 'hang' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<RequestBehaviour>({ kind: '5xx' }, { kind: 'hang' }, { kind: 'reset' }, { kind: '4xx' }, { kind: 'huge' }),
  },
);

const stepScenario: fc.Arbitrary<StepScenario> = fc.record({
  kind: fc.constantFrom<StepKind>('http', 'callback', 'poll', 'delay'),
  request: requestBehaviour,
  callback: fc.constantFrom<CallbackBehaviour>('normal', 'normal', 'fail', 'early', 'duplicate', 'reordered', 'heartbeat', 'late', 'never'),
  poll: fc.record({
    progress: fc.integer({ min: 0, max: 3 }),
    end: fc.constantFrom(
      'completed' as const,
      'completed' as const,
      'failed' as const,
      'garbage' as const,
      '5xx' as const,
      'hang' as const,
    ),
  }),
  delayS: fc.constantFrom(0, 0.05, 0.1),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  compensate: fc.option(fc.constantFrom<CompensationBehaviour>('ok', 'ok', '5xx-once', '4xx'), { nil: null }),
  depsMask: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
});

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  onFailure: fc.constantFrom('rollback' as const, 'hold' as const),
  steps: fc.array(stepScenario, { minLength: 1, maxLength: 6 }),
});

export const stepName = (i: number) => `s${i}`;
export const depsOf = (sc: Scenario, i: number) => sc.steps[i].depsMask.slice(0, i).flatMap((on, j) => (on ? [stepName(j)] : []));

/** The manifest a scenario runs: paths carry the scenario key so one service sim serves every scenario. */
export function manifestOf(sc: Scenario, key: string, baseUrl: string): Record<string, unknown> & { slug: string } {
  // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch below covers every step kind
  const provision = sc.steps.map((s, i) => {
    const name = stepName(i);
    const common: Record<string, unknown> = {
      name,
      type: s.kind,
      depends_on: depsOf(sc, i),
      timeout_s: meetsHang(s) ? TIMING.hangTimeoutS : TIMING.requestTimeoutS,
      retry: { max_attempts: s.maxAttempts, initial_s: TIMING.retryS, backoff: 1, max_s: TIMING.retryS * 2 },
      ...(s.compensate ? { compensate: { method: 'POST', path: `/${key}/${name}/undo` } } : {}),
    };
    const path = `/${key}/${name}`;
    switch (s.kind) {
      case 'http':
        return { ...common, request: { path, body: { tenant: '{{tenant.id}}' } } };
      case 'callback':
        return {
          ...common,
          request: { path, body: { callback_token: '{{callback.token}}', callback_url: '{{callback.url}}' } },
          wait: { timeout_s: TIMING.waitTimeoutS },
        };
      case 'poll':
        return {
          ...common,
          request: { path },
          poll: { path: `${path}/poll`, interval_s: TIMING.pollIntervalS, timeout_s: TIMING.pollTimeoutS },
        };
      case 'delay':
        return { ...common, delay: { seconds: s.delayS } };
    }
  });
  return { slug: `prop-${key}`, name: `Property ${key}`, version: '1.0.0', base_url: baseUrl, on_failure: sc.onFailure, provision };
}

export type Verdict = 'yes' | 'no' | 'maybe';
const and = (a: Verdict, b: boolean): Verdict => (!b ? 'no' : a);

/** After a hang, the answer that follows must arrive within the short timeout, which a loaded machine may miss. */
const requestSucceeds = (s: StepScenario): Verdict => {
  const r = s.request;
  if (r.kind === 'ok' || r.kind === 'creds' || r.kind === 'nonjson') return 'yes';
  if (r.kind !== 'flaky' || r.failures >= s.maxAttempts) return 'no';
  return r.how === 'hang' ? 'maybe' : 'yes';
};

/**
 * Whether a step, once started, completes. An early callback wins over an attempt that then fails
 * with a retryable error or starts waiting (the report already arrived), but not over our own refusals.
 */
export function stepSucceeds(s: StepScenario): Verdict {
  switch (s.kind) {
    case 'delay':
      return 'yes';
    case 'http':
      return requestSucceeds(s);
    case 'poll':
      return and(requestSucceeds(s), s.poll.end === 'completed');
    case 'callback':
      if (s.callback === 'early') return s.request.kind !== '4xx' && s.request.kind !== 'huge' ? 'yes' : 'no';
      return and(requestSucceeds(s), ['normal', 'duplicate', 'reordered', 'heartbeat'].includes(s.callback));
  }
}

const FORWARD_END = new Set(['step.completed', 'step.failed', 'step.cancelled', 'step.skipped']);
const UNFINISHED = new Set(['pending', 'running', 'waiting_callback', 'waiting_poll', 'compensating']);
const WORKFLOW_END = new Set(['workflow.completed', 'workflow.rolled_back', 'workflow.cancelled']);

/**
 * Every rule the final rows and the event history must satisfy. Returns the violations (empty when
 * the run was lawful), so a failure lists all of them at once with the scenario.
 */
export function violations(sc: Scenario, d: WorkflowDetail, events: EventView[], requests: RecordedRequest[], secret: string): string[] {
  const out: string[] = [];
  const bad = (m: string) => out.push(m);
  const steps = new Map(d.steps.map((s) => [s.name, s]));
  const ms = (t: string | null) => (t === null ? null : Date.parse(t));

  // Terminal, with nothing left in flight.
  if (!['completed', 'rolled_back', 'cancelled', 'failed'].includes(d.status)) bad(`workflow not terminal: ${d.status}`);
  for (const s of d.steps) {
    if (UNFINISHED.has(s.status) && !(s.status === 'pending' && s.next_run_at === null))
      bad(`step ${s.name} left ${s.status} (next_run_at ${s.next_run_at})`);
  }

  // Outcome by the oracle: every step succeeds ⇔ the workflow completes.
  const verdicts = sc.steps.map(stepSucceeds);
  const allSucceed = verdicts.every((v) => v === 'yes');
  const someFails = verdicts.includes('no');
  if (allSucceed && d.status !== 'completed') bad(`every step succeeds, but the workflow is ${d.status} (${d.error})`);
  if (someFails && d.status === 'completed') bad('a step must fail, but the workflow completed');
  if (d.status !== 'completed' && sc.onFailure === 'hold' && d.status !== 'failed')
    bad(`on_failure hold: expected failed, got ${d.status}`);
  if (d.status !== 'completed' && sc.onFailure === 'rollback' && !['rolled_back', 'failed'].includes(d.status))
    bad(`on_failure rollback: expected rolled_back (or failed), got ${d.status}`);

  // Per workflow status.
  if (d.status === 'completed') {
    for (const s of d.steps) if (s.status !== 'completed') bad(`completed workflow has step ${s.name} ${s.status}`);
    if (d.steps_completed !== d.steps_total) bad(`completed workflow counts ${d.steps_completed}/${d.steps_total}`);
  }
  if (d.status === 'rolled_back') {
    sc.steps.forEach((spec, i) => {
      const s = steps.get(stepName(i));
      if (s && spec.compensate && s.status === 'completed') bad(`rolled back, but compensable ${s.name} is still completed`);
      if (s && ['pending', 'running', 'waiting_callback', 'waiting_poll'].includes(s.status)) bad(`rolled back with ${s.name} ${s.status}`);
    });
    if (!d.steps.some((s) => s.status === 'failed')) bad('rolled back without a failed step');
  }
  if (d.status === 'failed' && sc.onFailure === 'rollback' && !d.steps.some((s) => /^compensation failed/.test(s.error ?? ''))) {
    bad(`rollback workflow failed without a failed compensation: ${d.error}`);
  }
  if (d.status === 'failed' && sc.onFailure === 'hold' && !d.steps.some((s) => s.status === 'failed'))
    bad('held failure without a failed step');

  // A step starts only after all its dependencies completed (or were skipped).
  sc.steps.forEach((_spec, i) => {
    const s = steps.get(stepName(i));
    if (!s || s.started_at === null) return;
    for (const depName of depsOf(sc, i)) {
      const dep = steps.get(depName);
      const wasSatisfied =
        dep && (['completed', 'skipped', 'compensated'].includes(dep.status) || /^compensation failed/.test(dep.error ?? ''));
      if (!dep || !wasSatisfied) bad(`${s.name} started although its dependency ${depName} is ${dep?.status}`);
      else if (ms(dep.completed_at) === null || (ms(dep.completed_at) as number) > (ms(s.started_at) as number))
        bad(`${s.name} started at ${s.started_at}, before ${depName} completed at ${dep.completed_at}`);
    }
  });

  // History: one forward end per step; compensation only after completion and a rollback; final rows agree.
  const wfEvents = events.filter((e) => e.step_name === null).map((e) => e.type);
  const ends = wfEvents.filter((t) => WORKFLOW_END.has(t));
  if (ends.length > 1) bad(`workflow ended twice: ${ends.join(', ')}`);
  if (wfEvents.includes('workflow.completed') && (wfEvents.includes('workflow.failed') || wfEvents.includes('workflow.rolling_back')))
    bad(`completed after failing: ${wfEvents.join(', ')}`);
  if (wfEvents.includes('workflow.rolled_back') && wfEvents.indexOf('workflow.rolling_back') < 0) bad('rolled back without rolling_back');
  const expectedEnd: Record<string, string> = {
    completed: 'workflow.completed',
    rolled_back: 'workflow.rolled_back',
    cancelled: 'workflow.cancelled',
  };
  if (expectedEnd[d.status] && ends[0] !== expectedEnd[d.status])
    bad(`status ${d.status} but history ends with ${ends.join(', ') || 'nothing'}`);
  if (d.status === 'failed' && !wfEvents.some((t) => t === 'workflow.failed' || t === 'workflow.rollback_failed'))
    bad('failed without a workflow.failed event');
  const rollbackAt = events.findIndex((e) => e.type === 'workflow.rolling_back');
  for (const s of d.steps) {
    const own = events.map((e, at) => ({ ...e, at })).filter((e) => e.step_name === s.name);
    const forwardEnds = own.filter((e) => FORWARD_END.has(e.type));
    if (forwardEnds.length > 1) bad(`${s.name} ended twice: ${forwardEnds.map((e) => e.type).join(', ')}`);
    // A step is undone once it completed, or once it was cancelled after the service accepted its request.
    const completedAt = own.find((e) => e.type === 'step.completed' || (e.type === 'step.cancelled' && e.data.accepted === true))?.at ?? -1;
    for (const c of own.filter((e) => e.type.startsWith('step.compensat'))) {
      if (completedAt < 0 || c.at < completedAt) bad(`${s.name}: ${c.type} without an earlier step.completed (or an accepted request)`);
      if (rollbackAt < 0 || c.at < rollbackAt) bad(`${s.name}: ${c.type} before the rollback began`);
    }
    if (own.filter((e) => e.type === 'step.compensated').length > 1) bad(`${s.name} compensated twice`);
    const last = forwardEnds[0]?.type;
    if (s.status === 'completed' && last !== 'step.completed') bad(`${s.name} completed, history says ${last}`);
    if (s.status === 'compensated' && !own.some((e) => e.type === 'step.compensated')) bad(`${s.name} compensated without its event`);
    if (s.status === 'cancelled' && last !== 'step.cancelled') bad(`${s.name} cancelled, history says ${last}`);
    if (s.status === 'failed' && last !== 'step.failed' && !own.some((e) => e.type === 'step.compensation_failed'))
      bad(`${s.name} failed, history says ${last}`);
  }

  // Requests: idempotency keys name the step and an attempt within max_attempts; nothing for steps never started.
  sc.steps.forEach((spec, i) => {
    const name = stepName(i);
    const s = steps.get(name);
    const forward = requests.filter((r) => r.path.split('/')[2] === name && !r.path.endsWith('/undo'));
    const undo = requests.filter((r) => r.path.split('/')[2] === name && r.path.endsWith('/undo'));
    if (s?.started_at === null && forward.length + undo.length > 0)
      bad(`${name} never started but the service got ${forward.length + undo.length} requests`);
    for (const r of forward) {
      const m = /^(wf_[0-9A-Z]{26}):(s\d):(\d+)$/.exec(r.headers['idempotency-key'] ?? '');
      if (!m || m[1] !== d.id || m[2] !== name || Number(m[3]) < 1 || Number(m[3]) > spec.maxAttempts)
        bad(`${name} sent Idempotency-Key ${r.headers['idempotency-key']}`);
    }
    for (const r of undo) {
      if (!new RegExp(`^${d.id}:${name}:compensate-\\d+$`).test(r.headers['idempotency-key'] ?? ''))
        bad(`${name} compensation sent Idempotency-Key ${r.headers['idempotency-key']}`);
    }
    if (undo.length > 0 && !(s && (s.status === 'compensated' || /^compensation failed/.test(s.error ?? ''))))
      bad(`${name} was compensated (${undo.length} requests) but is ${s?.status}`);
  });

  // Compensations run in reverse dependency order: a dependant's undo is done before its dependency's.
  const undoOf = (name: string) => requests.filter((r) => r.path.split('/')[2] === name && r.path.endsWith('/undo'));
  sc.steps.forEach((_spec, i) => {
    const mine = undoOf(stepName(i));
    if (mine.length === 0) return;
    sc.steps.forEach((_other, j) => {
      if (!depsOf(sc, j).includes(stepName(i))) return;
      const theirs = undoOf(stepName(j));
      if (theirs.length > 0 && Math.max(...theirs.map((r) => r.at)) > Math.min(...mine.map((r) => r.at)))
        bad(`${stepName(i)} compensated before its dependant ${stepName(j)}`);
    });
  });

  // Credentials never reach an output, an error, or the history.
  if (JSON.stringify(d).includes(secret) || JSON.stringify(events).includes(secret))
    bad('a credential leaked into the detail or the history');
  return out;
}
