import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallbackConflict,
  CallbackExpired,
  CallbackInvalid,
  CallbackUndelivered,
  pollAnswer,
  pollStarted,
  reportCallback,
  UnknownCallbackToken,
} from '../../packages/service-client/src/index.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startApi, type ApiHarness } from '../support/api.js';

describe('service client: reportCallback', () => {
  let sim: ServiceSim;
  before(async () => {
    sim = await startServiceSim();
  });
  after(async () => {
    await sim.close();
  });

  it('sends callback_token, status and the given fields, and returns the acknowledgement', async () => {
    sim.route('POST', '/cb1', {
      json: { data: { workflow_id: 'wf_1', step_name: 's', step_status: 'completed', duplicate: false }, meta: {} },
    });
    const ack = await reportCallback({
      callbackUrl: `${sim.url}/cb1`,
      callbackToken: 'tok',
      status: 'completed',
      endpoint: 'https://x',
      metadata: { id: 'b1' },
    });
    assert.equal(ack.step_status, 'completed');
    assert.deepEqual(sim.calls('POST', '/cb1')[0].body, {
      callback_token: 'tok',
      status: 'completed',
      endpoint: 'https://x',
      metadata: { id: 'b1' },
    });
  });

  it('retries 503 and 429 (honouring Retry-After) and then succeeds', async () => {
    sim.route('POST', '/cb2', (_r, nth) =>
      nth === 1 ? { status: 503 } : nth === 2 ? { status: 429, headers: { 'retry-after': '0' } } : { json: { data: { duplicate: false } } },
    );
    const retries: string[] = [];
    await reportCallback({
      callbackUrl: `${sim.url}/cb2`,
      callbackToken: 't',
      status: 'in_progress',
      initialDelayMs: 5,
      onRetry: (i) => retries.push(i.problem),
    });
    assert.deepEqual(retries, ['status 503', 'status 429']);
  });

  it('gives up after its attempts with CallbackUndelivered', async () => {
    sim.route('POST', '/cb3', { status: 502 });
    await assert.rejects(
      reportCallback({ callbackUrl: `${sim.url}/cb3`, callbackToken: 't', status: 'completed', attempts: 2, initialDelayMs: 5 }),
      CallbackUndelivered,
    );
  });

  it('throws a typed error for 409 and 410 without retrying', async () => {
    sim.route('POST', '/cb409', { status: 409, json: { error: { code: 'conflict', message: 'step ended', request_id: 'r' } } });
    sim.route('POST', '/cb410', { status: 410, json: { error: { code: 'gone', message: 'wait expired', request_id: 'r' } } });
    await assert.rejects(
      reportCallback({ callbackUrl: `${sim.url}/cb409`, callbackToken: 't', status: 'completed' }),
      (e: unknown) => e instanceof CallbackConflict && e.message === 'step ended',
    );
    await assert.rejects(reportCallback({ callbackUrl: `${sim.url}/cb410`, callbackToken: 't', status: 'completed' }), CallbackExpired);
    assert.equal(sim.calls('POST', '/cb409').length, 1);
  });

  it('builds poll answers in the shape Provisioner reads', () => {
    assert.deepEqual(pollAnswer.inProgress({ pct: 50 }).body, { status: 'in_progress', metadata: { pct: 50 } });
    assert.deepEqual(pollAnswer.completed({ endpoint: 'https://e' }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { status: 'completed', endpoint: 'https://e' },
    });
    assert.deepEqual(pollAnswer.failed('quota').body, { status: 'failed', error: 'quota' });
    const started = pollStarted('/jobs/1');
    assert.equal(started.status, 202);
    assert.equal(started.headers.location, '/jobs/1');
  });
});

describe("service client against Provisioner's callback endpoint", () => {
  let api: ApiHarness;
  let base: string;
  before(async () => {
    api = await startApi('sqlite');
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await api.close();
  });

  it('turns 404 (unknown token) and 422 (malformed body) into UnknownCallbackToken and CallbackInvalid', async () => {
    const url = `${base}/api/v1/provisioning/callback`;
    await assert.rejects(
      reportCallback({ callbackUrl: url, callbackToken: `cbt_${'a'.repeat(43)}`, status: 'completed' }),
      UnknownCallbackToken,
    );
    await assert.rejects(
      reportCallback({ callbackUrl: url, callbackToken: '', status: 'completed', metadata: 'x' as never }),
      (e: unknown) => e instanceof CallbackInvalid && e.issues.length > 0,
    );
  });
});
