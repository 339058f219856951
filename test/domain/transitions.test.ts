// The engine's decisions as tables: state + outcome → changes, with no database and no I/O.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, Gone } from '../../src/domain/errors.js';
import type { JsonObject } from '../../src/domain/json.js';
import { stateOf, type StepRecord, type WorkflowRecord } from '../../src/domain/records.js';
import type { StepSpec } from '../../src/domain/step-specs.js';
import type { StepOutcome } from '../../src/domain/step-outcome.js';
import { StaleWrite, WorkflowDraft } from '../../src/domain/workflow-draft.js';
import { applyCompensationOutcome, applyStepOutcome } from '../../src/domain/transitions/step-outcomes.js';
import { advance } from '../../src/domain/transitions/workflow-progress.js';
import { cancel, forceComplete, resolveRollback, retryStep } from '../../src/domain/transitions/operator-actions.js';
import { receiveReport } from '../../src/domain/transitions/callback-reports.js';

const NOW = 1_800_000_000_000;
const OWNER = 'w_test:1';

function workflow(patch: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    id: 'wf_1',
    tenant_id: 't1',
    service_slug: 'files',
    service_version: '1',
    kind: 'provision',
    status: 'running',
    parameters: '{}',
    endpoint: null,
    credentials: null,
    error: null,
    on_failure: 'rollback',
    base_url: 'http://127.0.0.1:1',
    idempotency_key: null,
    provision_workflow_id: null,
    steps_total: 0,
    steps_completed: 0,
    created_at: NOW - 1000,
    started_at: NOW - 1000,
    updated_at: NOW - 1000,
    completed_at: null,
    last_progress_at: NOW - 1000,
    trace_parent: null,
    cancel_requested_at: null,
    ...patch,
  };
}

let position = 0;
function step(name: string, spec: Partial<StepSpec> & { type?: string }, patch: Partial<StepRecord> = {}): StepRecord {
  const full = { name, type: 'http', request: { path: `/${name}` }, ...spec } as StepSpec;
  return {
    id: `stp_${name}`,
    workflow_id: 'wf_1',
    tenant_id: 't1',
    name,
    position: position++,
    type: full.type,
    status: 'pending',
    depends_on: JSON.stringify(full.depends_on ?? []),
    spec: JSON.stringify(full),
    state: '{}',
    attempt: 0,
    compensation_attempt: 0,
    retry_count: 0,
    max_attempts: 3,
    timeout_ms: 1000,
    waiting_reason: null,
    next_run_at: null,
    deadline_at: null,
    lease_owner: null,
    lease_expires_at: null,
    callback_token_hash: null,
    report_hash: null,
    early_report: null,
    progress: null,
    poll_count: 0,
    first_poll_at: null,
    started_at: null,
    completed_at: null,
    error: null,
    output: null,
    endpoint: null,
    updated_at: NOW - 1000,
    response: null,
    ...patch,
  };
}

const running = (patch: Partial<StepRecord> = {}): Partial<StepRecord> => ({
  status: 'running',
  attempt: 1,
  lease_owner: OWNER,
  lease_expires_at: NOW + 5000,
  ...patch,
});
const sealer = {
  seal: (v: JsonObject) => JSON.stringify(v),
  merge: (sealed: readonly string[]) => JSON.stringify(Object.assign({}, ...sealed.map((x) => JSON.parse(x) as JsonObject))),
};
const draft = (steps: StepRecord[], wf: Partial<WorkflowRecord> = {}) =>
  new WorkflowDraft(workflow({ steps_total: steps.length, ...wf }), steps, NOW, sealer);
const statuses = (d: WorkflowDraft) => Object.fromEntries(d.steps.map((s) => [s.name, s.status]));
const byWorker = { guard: { owner: OWNER }, trigger: 'attempt' } as const;
const types = (d: WorkflowDraft) => d.events.map((e) => e.type);

describe('step outcomes', () => {
  it('completes a step, makes only the children whose parents are all done due, and keeps the workflow running', () => {
    const d = draft([
      step('a', {}, running()),
      step('b', {}, { status: 'completed' }),
      step('join', { depends_on: ['a', 'b'] }),
      step('after_a', { depends_on: ['a'] }),
      step('later', { depends_on: ['join', 'missing'] }),
    ]);
    applyStepOutcome(d, d.steps[0], { kind: 'completed', output: { id: 'acc', credentials: { password: 'p' } } }, byWorker);
    assert.deepEqual(statuses(d), { a: 'completed', b: 'completed', join: 'pending', after_a: 'pending', later: 'pending' });
    assert.equal(d.step('join')?.next_run_at, NOW);
    assert.equal(d.step('after_a')?.next_run_at, NOW);
    assert.equal(d.step('later')?.next_run_at, null);
    assert.equal(d.step('a')?.output, JSON.stringify({ id: 'acc' }), 'credentials are lifted out of the stored output');
    assert.deepEqual(JSON.parse(d.wf.credentials as string), { password: 'p' });
    assert.equal(d.wf.status, 'running');
    assert.equal(d.wf.steps_completed, 1);
    assert.equal(d.wake, true);
    assert.equal(d.step('a')?.lease_owner, null, 'the lease is released');
  });

  it('completes the workflow when the last step completes, and announces it once', () => {
    const d = draft([step('a', {}, { status: 'completed' }), step('b', { depends_on: ['a'] }, running())]);
    applyStepOutcome(d, d.steps[1], { kind: 'completed', output: null, report: { endpoint: 'https://x.example' } }, byWorker);
    assert.equal(d.wf.status, 'completed');
    assert.equal(d.wf.endpoint, 'https://x.example');
    assert.deepEqual(
      d.outbox.map((m) => m.topic),
      ['provisioning.workflow.completed'],
    );
    advance(d);
    assert.equal(d.outbox.length, 1, 'advance is idempotent');
  });

  const retryCases: [string, Partial<StepRecord>, string][] = [
    ['schedules another attempt while attempts remain', running({ attempt: 1, max_attempts: 3 }), 'pending'],
    ['fails the step once the attempts are used up', running({ attempt: 3, max_attempts: 3 }), 'failed'],
  ];
  for (const [name, patch, expected] of retryCases) {
    it(`a retryable outcome ${name}`, () => {
      const d = draft([step('a', { retry: { max_attempts: 3, initial_s: 1, backoff: 2, max_s: 60 } }, patch)]);
      applyStepOutcome(d, d.steps[0], { kind: 'retry', error: 'POST /a answered 503', detail: '<html>maintenance</html>' }, byWorker);
      assert.equal(d.steps[0].status, expected);
      if (expected === 'pending') {
        assert.ok(
          (d.steps[0].next_run_at as number) >= NOW + 500 && (d.steps[0].next_run_at as number) <= NOW + 1000,
          'backoff with jitter',
        );
        assert.doesNotMatch(d.steps[0].waiting_reason ?? '', /maintenance/, 'operator-only detail never reaches a tenant-visible field');
      } else {
        assert.match(d.steps[0].error ?? '', /gave up after 3 attempts/);
        assert.equal(d.wf.status, 'rolled_back', 'nothing to compensate: the rollback ends at once');
      }
      assert.ok(
        d.events.some((e) => e.data?.detail === '<html>maintenance</html>'),
        'the detail is kept for operators in the history',
      );
    });
  }

  it('ignores a worker whose lease passed to another (the fence), changing nothing', () => {
    const d = draft([step('a', {}, running({ lease_owner: 'w_other:7' }))]);
    assert.throws(() => applyStepOutcome(d, d.steps[0], { kind: 'completed', output: {} }, byWorker), StaleWrite);
  });

  it('under hold, a failure stops new steps but lets the ones under way finish before the workflow fails', () => {
    const d = draft([step('a', {}, running()), step('b', {}, running({ lease_owner: 'w_x:1' })), step('c', { depends_on: ['a'] })], {
      on_failure: 'hold',
    });
    applyStepOutcome(d, d.steps[0], { kind: 'failed', error: 'POST /a answered 400' }, byWorker);
    assert.equal(d.wf.status, 'running', 'b is still under way');
    assert.equal(d.step('c')?.next_run_at, null);
    applyStepOutcome(d, d.steps[1], { kind: 'completed', output: {} }, { guard: { owner: 'w_x:1' }, trigger: 'attempt' });
    assert.equal(d.wf.status, 'failed');
    assert.deepEqual(
      d.outbox.map((m) => m.topic),
      ['provisioning.step.failed', 'provisioning.workflow.failed'],
    );
  });
});

describe('rollback', () => {
  it('cancels what waits, marks accepted waits for compensation, and compensates children before parents', () => {
    const d = draft([
      step('account', { compensate: { method: 'DELETE', path: '/a' } }, { status: 'completed' }),
      step(
        'bucket',
        { type: 'callback', depends_on: ['account'], compensate: { method: 'DELETE', path: '/b' } },
        { status: 'waiting_callback', attempt: 1, deadline_at: NOW + 60_000 },
      ),
      step('quota', { depends_on: ['account'] }, running()),
      step('never', { depends_on: ['quota'] }),
    ]);
    applyStepOutcome(d, d.step('quota') as StepRecord, { kind: 'failed', error: 'quota exceeded' }, byWorker);
    assert.equal(d.wf.status, 'rolling_back');
    assert.deepEqual(statuses(d), { account: 'completed', bucket: 'compensating', quota: 'failed', never: 'cancelled' });
    assert.equal(stateOf(d.step('bucket') as StepRecord).accepted, true);

    const bucket = d.step('bucket') as StepRecord;
    Object.assign(bucket, { lease_owner: OWNER });
    applyCompensationOutcome(d, bucket, { kind: 'completed', output: null }, { owner: OWNER });
    assert.deepEqual(statuses(d), { account: 'compensating', bucket: 'compensated', quota: 'failed', never: 'cancelled' });
    const account = d.step('account') as StepRecord;
    Object.assign(account, { lease_owner: OWNER });
    applyCompensationOutcome(d, account, { kind: 'completed', output: null }, { owner: OWNER });
    assert.equal(d.wf.status, 'rolled_back');
    assert.deepEqual(
      types(d).filter((t) => t.startsWith('workflow.')),
      ['workflow.failed', 'workflow.rolling_back', 'workflow.rolled_back'],
    );
  });

  it('a request the service accepted while the rollback started is compensated, not forgotten', () => {
    const d = draft(
      [
        step('a', { type: 'poll', compensate: { method: 'DELETE', path: '/jobs/1' } }, running()),
        step('b', {}, { status: 'failed', error: 'boom' }),
      ],
      { status: 'rolling_back' },
    );
    applyStepOutcome(
      d,
      d.steps[0],
      {
        kind: 'waiting',
        status: 'waiting_poll',
        reason: 'polling',
        nextRunAt: NOW + 1000,
        deadlineAt: NOW + 9000,
        state: { poll_url: '/jobs/1' },
      },
      byWorker,
    );
    assert.equal(d.steps[0].status, 'compensating');
  });

  it('a compensation that fails for good ends the rollback incomplete, naming the step once', () => {
    const d = draft(
      [
        step(
          'a',
          { compensate: { method: 'DELETE', path: '/a' } },
          { status: 'compensating', lease_owner: OWNER, compensation_attempt: 3 },
        ),
        step('b', {}, { status: 'failed' }),
      ],
      { status: 'rolling_back' },
    );
    applyCompensationOutcome(d, d.steps[0], { kind: 'failed', error: 'DELETE /a answered 400' }, { owner: OWNER });
    assert.equal(d.wf.status, 'failed');
    assert.equal(d.wf.error, 'rollback incomplete: could not undo a: DELETE /a answered 400');
    assert.throws(() => forceComplete(d, { actor: 'ops', reason: 'x' }), Conflict, 'force-complete never relabels a failed rollback');
    resolveRollback(d, { actor: 'ops', reason: 'deleted the account by hand' });
    assert.equal(d.wf.status, 'rolled_back');
    assert.equal(d.steps[0].status, 'compensated');
  });
});

describe('operator actions', () => {
  it('retry-step re-queues a failed step with a fresh budget and a new callback token, and resumes a held workflow', () => {
    const d = draft(
      [
        step(
          'cb',
          { type: 'callback' },
          { status: 'failed', attempt: 3, max_attempts: 3, callback_token_hash: 'old', state: '{"timed_out":true}' },
        ),
      ],
      { status: 'failed', on_failure: 'hold' },
    );
    retryStep(d, 'cb', { actor: 'ops', reason: 'fixed' }, (id, n) => `hash:${id}:${n}`);
    const s = d.steps[0];
    assert.deepEqual(
      [s.status, s.retry_count, s.max_attempts, s.callback_token_hash, s.next_run_at],
      ['pending', 1, 6, 'hash:stp_cb:1', NOW],
    );
    assert.equal(stateOf(s).timed_out, undefined);
    assert.equal(d.wf.status, 'running');
  });

  it('retry-step refuses a step that did not fail', () => {
    const d = draft([step('a', {}, { status: 'completed' })], { status: 'failed' });
    assert.throws(() => retryStep(d, 'a', { actor: null, reason: null }, () => 'h'), Conflict);
  });

  it('cancel with compensation rolls back and ends cancelled; without, ends at once', () => {
    const withComp = draft([
      step('a', { compensate: { method: 'DELETE', path: '/a' } }, { status: 'completed' }),
      step('b', { depends_on: ['a'] }, { next_run_at: NOW }),
    ]);
    cancel(withComp, true, { actor: 'ops', reason: 'customer left' });
    assert.deepEqual(
      [withComp.wf.status, withComp.steps[0].status, withComp.steps[1].status],
      ['rolling_back', 'compensating', 'cancelled'],
    );
    const without = draft([step('a', {}, running())]);
    cancel(without, false, { actor: 'ops', reason: null });
    assert.deepEqual([without.wf.status, without.steps[0].status, without.steps[0].lease_owner], ['cancelled', 'cancelled', null]);
  });
});

describe('callback reports', () => {
  const ctx = {
    hash: 'h1',
    outcomeOf: (r: { status: string }): StepOutcome =>
      r.status === 'completed' ? { kind: 'completed', output: {} } : { kind: 'failed', error: 'reported' },
    heartbeatMs: 60_000,
    sealEarly: () => '{"status":"completed"}',
  };
  const waiting = () => draft([step('cb', { type: 'callback' }, { status: 'waiting_callback', attempt: 1, deadline_at: NOW + 10_000 })]);

  it('a final report completes the waiting step; the identical repeat is a duplicate that changes nothing', () => {
    const d = waiting();
    assert.equal(receiveReport(d, d.steps[0], { status: 'completed' }, ctx).outcome, 'accepted');
    assert.equal(d.wf.status, 'completed');
    const events = d.events.length;
    assert.deepEqual(receiveReport(d, d.steps[0], { status: 'completed' }, ctx), {
      outcome: 'duplicate',
      result: { workflow_id: 'wf_1', step_name: 'cb', step_status: 'completed', duplicate: true },
    });
    assert.equal(d.events.length, events);
    assert.throws(() => receiveReport(d, d.steps[0], { status: 'failed' }, { ...ctx, hash: 'h2' }), Conflict);
  });

  it('heartbeats move the deadline; only the first is told in the history', () => {
    const d = waiting();
    for (let i = 0; i < 3; i++) receiveReport(d, d.steps[0], { status: 'in_progress', metadata: { pct: i } }, ctx);
    assert.equal(d.steps[0].deadline_at, NOW + 60_000);
    assert.equal(types(d).filter((t) => t === 'step.heartbeat').length, 1);
    assert.deepEqual((stateOf(d.steps[0]).heartbeats as JsonObject).count, 3);
  });

  it('a report past the deadline is gone; one before the request returned is kept for the worker', () => {
    const late = draft([step('cb', { type: 'callback' }, { status: 'waiting_callback', attempt: 1, deadline_at: NOW - 1 })]);
    assert.throws(() => receiveReport(late, late.steps[0], { status: 'completed' }, ctx), Gone);
    const early = draft([step('cb', { type: 'callback' }, running())]);
    assert.equal(receiveReport(early, early.steps[0], { status: 'completed' }, ctx).outcome, 'early');
    assert.equal(early.steps[0].status, 'running');
    assert.notEqual(early.steps[0].early_report, null);
  });
});

describe('draft checkpoints', () => {
  it('undo one decision without touching the others in the batch', () => {
    const d = draft([step('a', {}, running()), step('b', {}, running({ lease_owner: 'w_x:1' }))]);
    applyStepOutcome(d, d.steps[0], { kind: 'completed', output: {} }, byWorker);
    const restore = d.checkpoint();
    applyStepOutcome(d, d.steps[1], { kind: 'completed', output: {} }, { guard: { owner: 'w_x:1' }, trigger: 'attempt' });
    assert.equal(d.wf.status, 'completed');
    restore();
    assert.deepEqual([d.wf.status, d.steps[0].status, d.steps[1].status, d.outbox.length], ['running', 'completed', 'running', 0]);
  });
});

describe('results of several steps', () => {
  it('the endpoint and credentials follow the DAG order, not which step finished last', () => {
    for (const finishFirst of ['db', 'dns'] as const) {
      const d = draft([
        step('account', {}, { status: 'completed' }),
        step('db', { depends_on: ['account'] }, running()),
        step('dns', { depends_on: ['db'] }, running({ lease_owner: 'w_x:1' })),
      ]);
      const reports = {
        db: {
          kind: 'completed' as const,
          output: {},
          report: { endpoint: 'postgres://db', credentials: { user: 'u', password: 'from-db' } },
        },
        dns: { kind: 'completed' as const, output: {}, report: { endpoint: 'https://svc.example', credentials: { password: 'from-dns' } } },
      };
      const order = finishFirst === 'db' ? (['db', 'dns'] as const) : (['dns', 'db'] as const);
      for (const name of order) {
        const s = d.step(name) as StepRecord;
        applyStepOutcome(d, s, reports[name], { guard: { owner: s.lease_owner as string }, trigger: 'attempt' });
      }
      assert.equal(d.wf.endpoint, 'https://svc.example', `${finishFirst} first: the deepest reporting step's endpoint`);
      assert.deepEqual(
        JSON.parse(d.wf.credentials as string),
        { user: 'u', password: 'from-dns' },
        `${finishFirst} first: later steps' keys win`,
      );
    }
  });
});

describe('a declared endpoint', () => {
  it('is the service endpoint even when a deeper step reports another', () => {
    const d = draft([
      step('db', { endpoint: true } as Partial<StepSpec>, running()),
      step('dns', { depends_on: ['db'] }, running({ lease_owner: 'w_x:1' })),
    ]);
    applyStepOutcome(d, d.steps[0], { kind: 'completed', output: {}, report: { endpoint: 'postgres://db' } }, byWorker);
    applyStepOutcome(
      d,
      d.steps[1],
      { kind: 'completed', output: {}, report: { endpoint: 'https://dns' } },
      { guard: { owner: 'w_x:1' }, trigger: 'attempt' },
    );
    assert.equal(d.wf.endpoint, 'postgres://db');
  });
});
