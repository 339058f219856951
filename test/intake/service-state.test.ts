import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deriveServiceState, startRefusal, type WorkflowFact } from '../../src/domain/service-state.js';
import { actionOf, mapEvent, type SubscriptionEventEnvelope } from '../../src/domain/subscription-event.js';
import type { WorkflowKind, WorkflowStatus } from '../../src/domain/model.js';

let seq = 0;
const wf = (kind: WorkflowKind, status: WorkflowStatus): WorkflowFact => ({ id: `wf_${String(++seq).padStart(4, '0')}`, kind, status });

/** The history, oldest first, reduced to the inputs the store supplies. */
function stateOf(history: WorkflowFact[]) {
  const completed = history.filter((w) => w.status === 'completed');
  const active = history.filter((w) => ['pending', 'running', 'rolling_back'].includes(w.status));
  return deriveServiceState({ lastCompleted: completed.at(-1) ?? null, latest: history.at(-1) ?? null, active: active.at(-1) ?? null });
}

describe('provisioned state derived from completed workflows', () => {
  const who = { tenantId: 'acme', serviceSlug: 'files' };
  const cases: [string, WorkflowFact[], string][] = [
    ['nothing yet', [], 'not_provisioned'],
    ['a provision under way', [wf('provision', 'running')], 'provisioning'],
    ['a completed provision', [wf('provision', 'completed')], 'provisioned'],
    ['an update under way', [wf('provision', 'completed'), wf('update', 'running')], 'updating'],
    ['a failed update leaves it provisioned', [wf('provision', 'completed'), wf('update', 'rolled_back')], 'provisioned'],
    ['a completed deprovision', [wf('provision', 'completed'), wf('deprovision', 'completed')], 'not_provisioned'],
    ['a failed deprovision', [wf('provision', 'completed'), wf('deprovision', 'failed')], 'deprovision_failed'],
    [
      'a failed re-provision after a deprovision',
      [wf('provision', 'completed'), wf('deprovision', 'completed'), wf('provision', 'rolled_back')],
      'provision_failed',
    ],
    ['a held provision failure', [wf('provision', 'failed')], 'provision_failed'],
  ];
  for (const [name, history, expected] of cases) {
    it(`is ${expected} after ${name}`, () => assert.equal(stateOf(history).state, expected));
  }

  it('refuses a provision of a provisioned service naming the workflow in force, and points to update', () => {
    const p = wf('provision', 'completed');
    assert.match(startRefusal('provision', stateOf([p]), who) ?? '', new RegExp(`${p.id}.*"update"`));
  });
  it('refuses a deprovision after provision → deprovision → failed re-provision', () => {
    const h = [wf('provision', 'completed'), wf('deprovision', 'completed'), wf('provision', 'rolled_back')];
    assert.match(startRefusal('deprovision', stateOf(h), who) ?? '', /has no provisioned files/);
    assert.equal(startRefusal('provision', stateOf(h), who), null);
  });
  it('refuses any start while a workflow is under way, naming it', () => {
    const running = wf('update', 'running');
    for (const kind of ['provision', 'update', 'deprovision'] as const) {
      assert.match(startRefusal(kind, stateOf([wf('provision', 'completed'), running]), who) ?? '', new RegExp(running.id));
    }
  });
  it('allows a deprovision to be retried after it failed, and an update only while provisioned', () => {
    const h = [wf('provision', 'completed'), wf('deprovision', 'failed')];
    assert.equal(startRefusal('deprovision', stateOf(h), who), null);
    assert.notEqual(startRefusal('update', stateOf(h), who), null);
    assert.equal(startRefusal('update', stateOf([wf('provision', 'completed')]), who), null);
  });
});

describe('ScaiControl event mapping', () => {
  const env = (data: Record<string, unknown>): SubscriptionEventEnvelope => ({
    event_id: 'e1',
    event_type: 'subscription.activated',
    occurred_at: '2026-12-01T00:00:00Z',
    data,
  });
  it('reads tenant, service, parameters and plan_code as parameters.plan by default', () => {
    const { event, issues } = mapEvent(
      env({ tenant_id: 'acme', service_slug: 'files', subscription_id: 's1', plan_code: 'pro', parameters: { seats: 3 } }),
    );
    assert.deepEqual(issues, []);
    assert.deepEqual(event, {
      subscriptionId: 's1',
      tenantId: 'acme',
      serviceSlug: 'files',
      changeKind: null,
      parameters: { seats: 3, plan: 'pro' },
    });
  });
  it('reads the paths an operator maps instead', () => {
    const { event } = mapEvent(env({ tenant_id: 'acme', product: { slug: 'files' }, plan: { code: 'gold' } }), {
      service_slug: 'data.product.slug',
      plan: 'data.plan.code',
    });
    assert.deepEqual([event.serviceSlug, event.parameters], ['files', { plan: 'gold' }]);
  });
  it('names the path of a field of the wrong type', () => {
    const { issues } = mapEvent(env({ tenant_id: { id: 1 }, parameters: 'x' }));
    assert.deepEqual(
      issues.map((i) => i.loc.join('.')),
      ['body.data.tenant_id', 'body.data.parameters'],
    );
  });
  it('maps activated, plan and quantity changes and cancelled to workflows, and nothing else', () => {
    assert.deepEqual(actionOf('subscription.activated', null), { action: 'provision' });
    assert.deepEqual(actionOf('subscription.changed', 'plan_change'), { action: 'update' });
    assert.deepEqual(actionOf('subscription.changed', 'quantity_change'), { action: 'update' });
    assert.deepEqual(actionOf('subscription.cancelled', null), { action: 'deprovision' });
    for (const [type, kind] of [
      ['subscription.changed', 'renewal'],
      ['subscription.suspended', null],
      ['subscription.resumed', null],
    ] as const) {
      assert.ok('ignored' in actionOf(type, kind), `${type} ${kind}`);
    }
  });
});
