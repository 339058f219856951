import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { startFilesService, type FilesServiceOptions } from '../../examples/simulator/files-service.js';
import { postJson, startServiceSim } from '../support/service-sim.js';

type TestContext = { after: (fn: () => Promise<void>) => void };

async function startedFiles(t: TestContext, opts: FilesServiceOptions = {}) {
  const files = await startFilesService({ port: 0, callbackDelayMs: 0, ...opts });
  t.after(() => files.close());
  return files;
}

async function startedReceiver(t: TestContext) {
  const receiver = await startServiceSim();
  t.after(() => receiver.close());
  return receiver;
}

// `any`: each test reads the service's JSON answers field by field.
async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  if (method === 'POST') return postJson(url, body ?? {});
  const res = await fetch(url, { method });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text), headers: res.headers };
}

describe('simulated Files service', () => {
  it('creates an account (201 with an id) and deletes it (204)', async (t) => {
    const files = await startedFiles(t);

    const created = await call('POST', `${files.url}/accounts`, { tenant: 't1' });
    assert.equal(created.status, 201);
    assert.match(created.json.id, /^acc_/);
    assert.equal(files.stats().accounts, 1);

    const deleted = await call('DELETE', `${files.url}/accounts/${created.json.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(files.stats().accounts, 0);
  });

  it('answers a repeated Idempotency-Key with the first response and creates nothing new', async (t) => {
    const files = await startedFiles(t);
    const post = (key: string) => postJson(`${files.url}/accounts`, { tenant: 't1' }, { 'Idempotency-Key': key });

    const first = await post('wf_1:create_account:1');
    const repeat = await post('wf_1:create_account:1');
    const other = await post('wf_1:create_account:2');

    assert.deepEqual(repeat.json, first.json);
    assert.notEqual(other.json.id, first.json.id);
    assert.equal(files.stats().accounts, 2);
  });

  it('accepts a bucket with 202 and calls back to the callback_url with its token', async (t) => {
    const receiver = await startedReceiver(t);
    receiver.route('POST', '/callback', { json: { data: {} } });
    const files = await startedFiles(t);
    const account = (await call('POST', `${files.url}/accounts`)).json.id;

    const accepted = await call('POST', `${files.url}/buckets`, {
      account,
      callback_url: `${receiver.url}/callback`,
      callback_token: 'tok_123',
    });
    const callback = await receiver.waitFor((r) => r.path === '/callback', 1_000);

    assert.equal(accepted.status, 202);
    assert.equal(callback.headers['content-type'], 'application/json');
    assert.deepEqual(callback.body, {
      callback_token: 'tok_123',
      status: 'completed',
      endpoint: `https://files.example/${account}`,
      metadata: { bucket: account, region: 'local-1' },
    });
    assert.equal(files.stats().buckets, 1);
  });

  it('waits callbackDelayMs before calling back', async (t) => {
    const receiver = await startedReceiver(t);
    receiver.route('POST', '/callback', { json: {} });
    const files = await startedFiles(t, { callbackDelayMs: 80 });
    const account = (await call('POST', `${files.url}/accounts`)).json.id;

    const sentAt = Date.now();
    await call('POST', `${files.url}/buckets`, { account, callback_url: `${receiver.url}/callback`, callback_token: 't' });
    const callback = await receiver.waitFor((r) => r.path === '/callback', 1_000);

    assert.ok(callback.at - sentAt >= 75, `called back after ${callback.at - sentAt} ms`);
  });

  it('retries a callback that got a 5xx answer, and logs the failure', async (t) => {
    const receiver = await startedReceiver(t);
    receiver.route('POST', '/callback', (_r, nth) => (nth === 1 ? { status: 503 } : { json: {} }));
    const lines: string[] = [];
    const files = await startedFiles(t, { log: (l) => lines.push(l) });
    const account = (await call('POST', `${files.url}/accounts`)).json.id;

    await call('POST', `${files.url}/buckets`, { account, callback_url: `${receiver.url}/callback`, callback_token: 'tok_secret' });
    await receiver.waitFor(() => receiver.calls('POST', '/callback').length === 2, 1_000);

    assert.ok(
      lines.some((l) => /callback .* attempt 1\/\d failed: status 503/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.every((l) => !l.includes('tok_secret')),
      'the token never reaches the log',
    );
  });

  it('refuses a bucket without callback fields (400) or for an unknown account (404)', async (t) => {
    const files = await startedFiles(t);

    const missing = await call('POST', `${files.url}/buckets`, { account: 'acc_x' });
    const unknown = await call('POST', `${files.url}/buckets`, {
      account: 'acc_x',
      callback_url: 'http://127.0.0.1:1/cb',
      callback_token: 't',
    });

    assert.equal(missing.status, 400);
    assert.equal(unknown.status, 404);
    assert.equal(files.stats().buckets, 0);
  });

  it('starts an index with 202, a Location header and a poll_url', async (t) => {
    const files = await startedFiles(t);

    const started = await call('POST', `${files.url}/indexes`, { account: 'acc_1' });

    assert.equal(started.status, 202);
    assert.match(started.json.poll_url, /^\/indexes\/idx_/);
    assert.equal(started.headers.get('location'), started.json.poll_url);
  });

  it('reports an index in_progress until its Nth poll, which answers completed', async (t) => {
    const files = await startedFiles(t, { pollsUntilReady: 3 });
    const { poll_url } = (await call('POST', `${files.url}/indexes`)).json;

    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await call('GET', files.url + poll_url)).json);

    assert.deepEqual(
      answers.map((a) => a.status),
      ['in_progress', 'in_progress', 'completed', 'completed'],
    );
    assert.equal(typeof answers[2].metadata, 'object');
  });

  it('issues keys (201) with an endpoint and top-level credentials', async (t) => {
    const files = await startedFiles(t);

    const keys = await call('POST', `${files.url}/keys`, { account: 'acc_1' });

    assert.equal(keys.status, 201);
    assert.match(keys.json.id, /^key_/);
    assert.equal(keys.json.endpoint, 'https://files.example/acc_1');
    assert.equal(typeof keys.json.credentials.access_key, 'string');
    assert.equal(typeof keys.json.credentials.secret_key, 'string');
  });

  it('answers 404 JSON to an unknown route and 400 to a body that is not JSON', async (t) => {
    const files = await startedFiles(t);

    const unknown = await call('GET', `${files.url}/nothing-here`);
    const badJson = await postJson(`${files.url}/accounts`, '{"tenant":');

    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /no route/);
    assert.equal(badJson.status, 400);
    assert.equal(files.stats().accounts, 0);
  });

  it('serves every request and compensation of examples/services/files.yaml', async (t) => {
    const manifest = parse(await readFile(new URL('../../examples/services/files.yaml', import.meta.url), 'utf8'));
    const receiver = await startedReceiver(t);
    receiver.route('POST', '/callback', { json: {} });
    const files = await startedFiles(t, { pollsUntilReady: 1 });
    assert.equal(manifest.slug, 'files');
    assert.equal(manifest.base_url, 'http://127.0.0.1:9100');

    const scope = {
      tenant: { id: 't1' },
      workflow: { id: 'wf_1' },
      callback: { url: `${receiver.url}/callback`, token: 'tok_1' },
      steps: {} as Record<string, { output: unknown }>,
    };
    for (const step of manifest.provision) {
      const { method, path, body } = render(step.request, scope);
      const res = await call(method, files.url + path, body);
      assert.ok(res.status < 300, `${step.name}: ${method} ${path} -> ${res.status}`);
      scope.steps[step.name] = { output: res.json };
      if (step.type === 'poll') assert.equal((await call('GET', files.url + res.headers.get('location'))).json.status, 'completed');
    }
    await receiver.waitFor((r) => (r.body as { callback_token?: string }).callback_token === 'tok_1');
    assert.deepEqual(files.stats(), { accounts: 1, buckets: 1, indexes: 1, keys: 1 });

    for (const step of [...manifest.provision].reverse().filter((s) => s.compensate)) {
      const { method, path } = render(step.compensate, scope);
      assert.equal((await call(method, files.url + path)).status, 204, `${step.name} compensation`);
    }
    assert.deepEqual(files.stats(), { accounts: 0, buckets: 0, indexes: 1, keys: 0 });
  });
});

/** Just enough of the manifest template language for this test: `{{a.b.c}}` looked up in `scope`. */
function render(value: any, scope: object): any {
  if (Array.isArray(value)) return value.map((v) => render(v, scope));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope)]));
  }
  if (typeof value !== 'string') return value;
  const lookup = (path: string) =>
    path
      .trim()
      .split('.')
      .reduce<any>((at, key) => at?.[key], scope);
  const whole = /^\{\{([^}]+)\}\}$/.exec(value);
  if (whole) return lookup(whole[1]);
  return value.replace(/\{\{([^}]+)\}\}/g, (_, path: string) => String(lookup(path)));
}
