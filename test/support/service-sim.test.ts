import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postJson, startServiceSim } from './service-sim.js';

async function startedSim(t: { after: (fn: () => Promise<void>) => void }) {
  const sim = await startServiceSim();
  t.after(() => sim.close());
  return sim;
}

describe('service sim', () => {
  it('answers a routed request with the scripted status, JSON and headers', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/accounts', { status: 201, json: { id: 'acc_1' }, headers: { 'x-extra': 'yes' } });

    const res = await postJson(`${sim.url}/accounts`, { tenant: 't1' });

    assert.equal(res.status, 201);
    assert.deepEqual(res.json, { id: 'acc_1' });
    assert.equal(res.headers.get('x-extra'), 'yes');
  });

  it('answers 404 {error: "no route"} to an unrouted request and still records it', async (t) => {
    const sim = await startedSim(t);

    const res = await fetch(`${sim.url}/nowhere`);

    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: 'no route' });
    assert.deepEqual(sim.calls('GET', '/nowhere').length, 1);
  });

  it('records method, path, query, lower-case headers and the parsed JSON body', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/buckets', { status: 202 });

    await postJson(`${sim.url}/buckets?region=eu&dry=1`, { account: 'acc_1' }, { 'Idempotency-Key': 'wf_1:b:1' });

    const [r] = sim.requests;
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/buckets');
    assert.deepEqual(r.query, { region: 'eu', dry: '1' });
    assert.equal(r.headers['idempotency-key'], 'wf_1:b:1');
    assert.deepEqual(r.body, { account: 'acc_1' });
    assert.ok(r.at <= Date.now());
  });

  it('keeps a body that is not JSON as text, and an empty body as null', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/raw', {});
    sim.route('DELETE', '/raw', {});

    await postJson(`${sim.url}/raw`, '{not json');
    await fetch(`${sim.url}/raw`, { method: 'DELETE' });

    assert.equal(sim.calls('POST', '/raw')[0].body, '{not json');
    assert.equal(sim.calls('DELETE', '/raw')[0].body, null);
  });

  it('passes path params and a 1-based per-route call count to the handler', async (t) => {
    const sim = await startedSim(t);
    sim.route('GET', '/indexes/:id', (_req, nth, params) =>
      nth < 3 ? { json: { status: 'in_progress', id: params.id } } : { json: { status: 'completed', id: params.id } },
    );

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await (await fetch(`${sim.url}/indexes/idx%201`)).json());

    assert.deepEqual(
      answers.map((a) => a.status),
      ['in_progress', 'in_progress', 'completed'],
    );
    assert.equal(answers[0].id, 'idx 1');
  });

  it('replaces a route registered again and restarts its count', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/keys', (_r, nth) => ({ json: { nth, v: 1 } }));
    await postJson(`${sim.url}/keys`, {});
    sim.route('post', '/keys', (_r, nth) => ({ json: { nth, v: 2 } }));

    const res = await postJson(`${sim.url}/keys`, {});

    assert.deepEqual(res.json, { nth: 1, v: 2 });
  });

  it('lists calls by method and by exact path or pattern', async (t) => {
    const sim = await startedSim(t);
    sim.route('DELETE', '/accounts/:id', { status: 204 });
    await fetch(`${sim.url}/accounts/a1`, { method: 'DELETE' });
    await fetch(`${sim.url}/accounts/a2`, { method: 'DELETE' });
    await fetch(`${sim.url}/accounts/a1`);

    assert.equal(sim.calls('DELETE').length, 2);
    assert.equal(sim.calls('delete', '/accounts/a1').length, 1);
    assert.equal(sim.calls('DELETE', '/accounts/:id').length, 2);
    assert.equal(sim.calls('GET', '/accounts/:id').length, 1);
  });

  it('answers 500 naming the error when a handler throws', async (t) => {
    const sim = await startedSim(t);
    sim.route('GET', '/boom', () => {
      throw new Error('scripted failure');
    });

    const res = await fetch(`${sim.url}/boom`);

    assert.equal(res.status, 500);
    assert.match((await res.json()).error, /scripted failure/);
  });

  it('delays an answer by delayMs', async (t) => {
    const sim = await startedSim(t);
    sim.route('GET', '/slow', { delayMs: 60, json: { ok: true } });

    const started = performance.now();
    const res = await fetch(`${sim.url}/slow`);

    assert.equal(res.status, 200);
    assert.ok(performance.now() - started >= 55, 'answered before the delay');
  });

  it('never answers a hanging request, and ends it at close()', async () => {
    const sim = await startServiceSim();
    sim.route('POST', '/buckets', { hang: true });

    const settled = fetch(`${sim.url}/buckets`, { method: 'POST', body: '{}' }).then(
      () => 'answered',
      () => 'socket ended',
    );
    await sim.waitFor((r) => r.path === '/buckets');
    await sim.close();

    assert.equal(await settled, 'socket ended');
  });

  it('destroys the socket instead of answering when told to reset', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/accounts', (_r, nth) => (nth === 1 ? { reset: true } : { status: 201, json: { id: 'acc_1' } }));

    await assert.rejects(fetch(`${sim.url}/accounts`, { method: 'POST', body: '{}' }), TypeError);
    const retried = await postJson(`${sim.url}/accounts`, {});

    assert.equal(retried.status, 201);
  });

  it('waits for a request that is yet to come, or finds one already recorded', async (t) => {
    const sim = await startedSim(t);
    sim.route('POST', '/callback', { json: {} });

    const waiting = sim.waitFor((r) => r.path === '/callback', 1_000);
    await postJson(`${sim.url}/callback`, { callback_token: 'tok' });
    const later = await waiting;
    const already = await sim.waitFor((r) => r.path === '/callback');

    assert.deepEqual(later.body, { callback_token: 'tok' });
    assert.equal(already, later);
  });

  it('rejects waitFor after its timeout, naming the requests it did see', async (t) => {
    const sim = await startedSim(t);
    await fetch(`${sim.url}/other`);

    await assert.rejects(
      sim.waitFor((r) => r.path === '/never', 30),
      /within 30 ms; received: GET \/other/,
    );
  });

  it('rejects a pending waitFor when closed, and can be closed twice', async () => {
    const sim = await startServiceSim();
    const waiting = assert.rejects(
      sim.waitFor(() => false, 1_000),
      /closed/,
    );

    await Promise.all([sim.close(), sim.close()]);
    await waiting;
  });
});
