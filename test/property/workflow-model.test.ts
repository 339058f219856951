import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowDetail, EventView } from '../../src/engine/workflow-queries.js';
import type { StepResponse } from '../../src/domain/views.js';
import { stepSucceeds, violations, type Scenario, type StepScenario } from './workflow-model.js';

/** The checker of the property tests must catch what it claims to: each broken history here is flagged. */
const WF = 'wf_01J00000000000000000000000';
const base: StepScenario = {
  kind: 'http',
  request: { kind: 'ok' },
  callback: 'normal',
  poll: { progress: 0, end: 'completed' },
  delayS: 0,
  maxAttempts: 1,
  compensate: null,
  depsMask: [false, false, false, false, false],
};
const chain: Scenario = {
  onFailure: 'rollback',
  steps: [
    { ...base, compensate: 'ok' },
    { ...base, depsMask: [true, false, false, false, false] },
  ],
};

function step(name: string, over: Partial<StepResponse>): StepResponse {
  return {
    name,
    type: 'http',
    status: 'completed',
    depends_on: [],
    retry_count: 0,
    attempt: 1,
    max_attempts: 1,
    waiting_reason: null,
    next_run_at: null,
    deadline_at: null,
    started_at: '2026-01-01T00:00:01.000Z',
    completed_at: '2026-01-01T00:00:02.000Z',
    error: null,
    output: null,
    endpoint: null,
    progress: null,
    poll_count: 0,
    ...over,
  };
}

function detail(status: string, steps: StepResponse[]): WorkflowDetail {
  return {
    id: WF,
    tenant_id: 't',
    service_slug: 's',
    service_version: '1',
    kind: 'provision',
    status: status as WorkflowDetail['status'],
    parameters: {},
    endpoint: null,
    has_credentials: false,
    error: null,
    steps_total: steps.length,
    steps_completed: steps.filter((s) => s.status === 'completed').length,
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: null,
    updated_at: '2026-01-01T00:00:00.000Z',
    completed_at: null,
    steps,
  };
}

const ev = (type: string, step: string | null = null): EventView => ({
  id: 'evt',
  type,
  step_name: step,
  attempt: null,
  actor: null,
  reason: null,
  data: {},
  created_at: '',
});
const lawfulEvents = [ev('workflow.created'), ev('step.completed', 's0'), ev('step.completed', 's1'), ev('workflow.completed')];
const lawful = () =>
  detail('completed', [step('s0', {}), step('s1', { started_at: '2026-01-01T00:00:03.000Z', completed_at: '2026-01-01T00:00:04.000Z' })]);

describe('the state-machine checker of the property tests', () => {
  it('accepts a lawful completed run', () => {
    assert.deepEqual(violations(chain, lawful(), lawfulEvents, [], 'secret'), []);
  });

  it('flags a step that started before its dependency completed', () => {
    const d = lawful();
    d.steps[1].started_at = '2026-01-01T00:00:01.500Z';
    assert.match(violations(chain, d, lawfulEvents, [], 'secret').join('\n'), /s1 started at .* before s0 completed/);
  });

  it('flags a completed workflow with an unfinished step, a step that ended twice, and a leaked secret', () => {
    const d = lawful();
    d.steps[1].status = 'failed';
    d.steps[0].output = { token: 'secret' };
    const found = violations(chain, d, [...lawfulEvents, ev('step.failed', 's1')], [], 'secret').join('\n');
    assert.match(found, /completed workflow has step s1 failed/);
    assert.match(found, /s1 ended twice/);
    assert.match(found, /leaked/);
  });

  it('flags a rollback that left a compensable step completed, or compensated before the rollback began', () => {
    const failing: Scenario = { ...chain, steps: [chain.steps[0], { ...chain.steps[1], request: { kind: '4xx' } }] };
    const d = detail('rolled_back', [step('s0', {}), step('s1', { status: 'failed', error: 'POST answered 400' })]);
    const events = [
      ev('workflow.created'),
      ev('step.completed', 's0'),
      ev('step.compensated', 's0'),
      ev('step.failed', 's1'),
      ev('workflow.failed'),
      ev('workflow.rolling_back'),
      ev('workflow.rolled_back'),
    ];
    const found = violations(failing, d, events, [], 'secret').join('\n');
    assert.match(found, /compensable s0 is still completed/);
    assert.match(found, /step\.compensated before the rollback began/);
  });

  it('flags a workflow left running, and an outcome the oracle rules out', () => {
    const d = detail('running', [
      step('s0', { status: 'waiting_callback', next_run_at: '2026-01-01T00:01:00.000Z' }),
      step('s1', { status: 'pending', started_at: null, completed_at: null }),
    ]);
    const found = violations(chain, d, [ev('workflow.created')], [], 'secret').join('\n');
    assert.match(found, /workflow not terminal: running/);
    assert.match(found, /step s0 left waiting_callback/);
    assert.match(found, /every step succeeds, but the workflow is running/);
  });

  it('predicts outcomes: early callbacks win over retryable failures, not over refusals', () => {
    assert.equal(stepSucceeds({ ...base, kind: 'callback', callback: 'early', request: { kind: '5xx' } }), 'yes');
    assert.equal(stepSucceeds({ ...base, kind: 'callback', callback: 'early', request: { kind: 'huge' } }), 'no');
    assert.equal(stepSucceeds({ ...base, kind: 'callback', callback: 'late' }), 'no');
    assert.equal(stepSucceeds({ ...base, request: { kind: 'flaky', failures: 1, how: '5xx' }, maxAttempts: 2 }), 'yes');
    assert.equal(stepSucceeds({ ...base, request: { kind: 'flaky', failures: 2, how: 'reset' }, maxAttempts: 2 }), 'no');
    assert.equal(stepSucceeds({ ...base, kind: 'poll', poll: { progress: 2, end: 'garbage' } }), 'no');
  });
});
