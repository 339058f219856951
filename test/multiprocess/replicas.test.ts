import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signToken } from '../../src/auth/token-signer.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { startReplica, type Replica } from '../support/replicas.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { eventually, freshDatabaseUrl, TEST_JWT_SECRET } from '../support/runtime.js';

/**
 * Several `provisioner serve` processes on one PostgreSQL database (issue 3). These run only with
 * PostgreSQL; CI always provides it (testDialects would fail the run if it were missing).
 */
const enabled = !!process.env.TEST_DATABASE_URL;
if (!enabled && process.env.CI) throw new Error('CI must run the multi-process PostgreSQL tests: set TEST_DATABASE_URL');

const ADMIN = { sub: 'ops', permissions: ['admin:provisioning', 'admin:registry'] };

async function call(base: string, method: string, path: string, body?: unknown, claims: object | null = ADMIN) {
  const headers: Record<string, string> = {};
  if (claims) headers.authorization = `Bearer ${await signToken(TEST_JWT_SECRET, claims, '1h')}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** A service whose callbacks go to whichever replica is alive, as a load balancer would route them. */
function workloadService(sim: ServiceSim, replicas: () => Replica[]) {
  sim.route('POST', '/a', { status: 201, json: { id: 'a1' }, delayMs: 30 });
  sim.route('POST', '/b', (req) => ({
    status: 202,
    headers: { location: `/b/${String(req.headers['x-provisioner-workflow'])}` },
    json: {},
  }));
  sim.route('GET', '/b/:wf', (_req, nth) => ({ json: { status: nth % 2 === 0 ? 'completed' : 'in_progress' } }));
  sim.route('POST', '/c', (req) => {
    const token = (req.body as { token: string }).token;
    setTimeout(() => void deliver(token, 0), 50);
    return { status: 202, json: {} };
  });
  sim.route('POST', '/d', { status: 200, json: { endpoint: 'https://svc.example/x', credentials: { k: 'v' } } });
  async function deliver(token: string, attempt: number): Promise<void> {
    const alive = replicas().filter((r) => r.proc.exitCode === null && r.proc.signalCode === null);
    const target = alive[attempt % Math.max(1, alive.length)];
    try {
      const r = await fetch(`${target.url}/api/v1/provisioning/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ callback_token: token, status: 'completed' }),
      });
      if (r.status >= 500 && attempt < 20) setTimeout(() => void deliver(token, attempt + 1), 100);
    } catch {
      if (attempt < 20) setTimeout(() => void deliver(token, attempt + 1), 100);
    }
  }
}

function manifest(base: string, slug = 'mp') {
  return {
    slug,
    name: 'Multi-process',
    version: '1',
    base_url: base,
    provision: [
      { name: 'a', type: 'http', request: { path: '/a' }, timeout_s: 2 },
      { name: 'b', type: 'poll', depends_on: ['a'], request: { path: '/b' }, poll: { interval_s: 0.1, timeout_s: 60 }, timeout_s: 2 },
      {
        name: 'c',
        type: 'callback',
        depends_on: ['a'],
        request: { path: '/c', body: { token: '{{callback.token}}' } },
        timeout_s: 2,
        wait: { timeout_s: 60 },
      },
      { name: 'd', type: 'http', depends_on: ['b', 'c'], request: { path: '/d' }, timeout_s: 2 },
    ],
  };
}

async function startWorkflows(base: string, n: number, slug = 'mp', tenantPrefix = 't'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await call(base, 'POST', '/api/v1/admin/provisioning/workflows', {
      tenant_id: `${tenantPrefix}${i % 7}-${i}`,
      service_slug: slug,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    ids.push(r.json.data.id);
  }
  return ids;
}

async function allEnded(base: string, ids: string[], timeoutMs: number) {
  return eventually(
    `${ids.length} workflows to complete`,
    async () => {
      const r = await call(base, 'GET', '/api/v1/admin/provisioning/workflows?limit=500');
      if (r.status !== 200) return null;
      const mine = r.json.data.filter((w: { id: string }) => ids.includes(w.id));
      return mine.length === ids.length && mine.every((w: { status: string }) => w.status === 'completed') ? mine : null;
    },
    timeoutMs,
  );
}

/** A step re-run after a crash must resend the same attempt: one Idempotency-Key per workflow step. */
function assertOneKeyPerStep(sim: ServiceSim, ids: string[]) {
  const keys = new Map<string, Set<string>>();
  for (const r of sim.requests) {
    if (r.method === 'GET') continue;
    const wf = r.headers['x-provisioner-workflow'];
    if (!ids.includes(wf)) continue;
    const key = r.headers['idempotency-key'];
    const step = key.split(':')[1];
    const set = keys.get(`${wf}:${step}`) ?? new Set<string>();
    set.add(key);
    keys.set(`${wf}:${step}`, set);
  }
  assert.equal(keys.size, ids.length * 4, 'every step of every workflow sent its request');
  for (const [step, set] of keys) assert.equal(set.size, 1, `${step} was sent with ${[...set].join(', ')}`);
}

describe('several replicas on one PostgreSQL database', { skip: !enabled }, () => {
  let sim: ServiceSim;
  let replicas: Replica[] = [];
  let db: { url: string; drop: () => Promise<void> };
  before(async () => {
    sim = await startServiceSim();
    workloadService(sim, () => replicas);
    db = await freshDatabaseUrl('postgres');
    replicas = await Promise.all([startReplica(db.url), startReplica(db.url), startReplica(db.url)]);
    const r = await call(replicas[0].url, 'PUT', '/api/v1/registry/register', manifest(sim.url));
    assert.equal(r.status, 201, JSON.stringify(r.json));
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
    await sim.close();
    await db.drop();
  });

  it('completes every workflow when one of three replicas is killed mid-run, re-running no completed step', async () => {
    const ids = await startWorkflows(replicas[0].url, 40);
    await eventually('some progress before the kill', async () => sim.calls('POST', '/d').length >= 5, 30_000);
    await replicas[1].kill('SIGKILL');
    await allEnded(replicas[0].url, ids, 60_000);
    assertOneKeyPerStep(sim, ids);
    const d = await call(replicas[2].url, 'GET', `/api/v1/admin/provisioning/workflows/${ids[0]}`);
    assert.equal(d.json.data.has_credentials, true);
    replicas[1] = await startReplica(db.url);
  });

  it('makes exactly one transition for 100 concurrent identical callbacks sent to different replicas', async () => {
    await call(replicas[0].url, 'PUT', '/api/v1/registry/register', {
      slug: 'cb',
      name: 'cb',
      version: '1',
      base_url: sim.url,
      provision: [
        { name: 'wait', type: 'callback', request: { path: '/hold', body: { token: '{{callback.token}}' } }, wait: { timeout_s: 60 } },
      ],
    });
    sim.route('POST', '/hold', { status: 202, json: {} });
    const [id] = await startWorkflows(replicas[0].url, 1, 'cb');
    const req = await sim.waitFor((r) => r.path === '/hold' && r.headers['x-provisioner-workflow'] === id, 10_000);
    const token = (req.body as { token: string }).token;
    await eventually(
      'step waiting',
      async () =>
        (await call(replicas[0].url, 'GET', `/api/v1/admin/provisioning/workflows/${id}`)).json.data.steps[0].status === 'waiting_callback',
    );
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        call(
          replicas[i % 3].url,
          'POST',
          '/api/v1/provisioning/callback',
          { callback_token: token, status: 'completed', metadata: { n: 1 } },
          null,
        ),
      ),
    );
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [200], JSON.stringify(answers.find((a) => a.status !== 200)?.json));
    assert.equal(answers.filter((a) => a.json.data.duplicate === false).length, 1);
    assert.equal(answers.filter((a) => a.json.data.duplicate === true).length, 99);
    const events = await call(replicas[1].url, 'GET', `/api/v1/admin/provisioning/workflows/${id}/events?limit=500`);
    assert.equal(events.json.data.filter((e: { type: string }) => e.type === 'step.callback').length, 1);
    assert.equal(events.json.data.filter((e: { type: string }) => e.type === 'workflow.completed').length, 1);
  });
});

describe('taking over a killed replica', { skip: !enabled }, () => {
  // Leases as in production (request timeout + 15 s grace) and waits shorter than a lease: only the
  // liveness takeover, not lease expiry, can finish these workflows in time.
  const LEASED = { PROVISIONER_LEASE_GRACE_MS: '15000', PROVISIONER_WORKER_CONCURRENCY: '4' };
  const slowManifest = (base: string) => ({
    slug: 'takeover',
    name: 'Takeover',
    version: '1',
    base_url: base,
    provision: [
      { name: 'a', type: 'http', request: { path: '/slow' }, timeout_s: 10 },
      { name: 'b', type: 'poll', depends_on: ['a'], request: { path: '/b' }, poll: { interval_s: 0.2, timeout_s: 8 }, timeout_s: 5 },
      {
        name: 'c',
        type: 'callback',
        depends_on: ['a'],
        request: { path: '/c', body: { token: '{{callback.token}}' } },
        timeout_s: 5,
        wait: { timeout_s: 8 },
      },
      { name: 'd', type: 'http', depends_on: ['b', 'c'], request: { path: '/d' }, timeout_s: 5 },
    ],
  });

  it("re-runs a SIGKILLed replica's steps within seconds, three kills in a row, and every workflow completes", async () => {
    const sim = await startServiceSim();
    const db = await freshDatabaseUrl('postgres');
    const replicas: Replica[] = [];
    try {
      workloadService(sim, () => replicas);
      // Slow enough that every replica holds requests in flight when it is killed.
      sim.route('POST', '/slow', { status: 201, json: { id: 's' }, delayMs: 1500 });
      replicas.push(...(await Promise.all([startReplica(db.url, LEASED), startReplica(db.url, LEASED), startReplica(db.url, LEASED)])));
      const register = await call(replicas[0].url, 'PUT', '/api/v1/registry/register', slowManifest(sim.url));
      assert.equal(register.status, 201, JSON.stringify(register.json));
      const takeovers: number[] = [];
      for (let round = 0; round < 3; round++) {
        const victim = replicas[1];
        const ids = await startWorkflows(replicas[0].url, 12, 'takeover', `r${round}-`);
        // Four slots per replica: with more than eight requests in flight, the victim holds some.
        const inFlight = await eventually(
          'every replica to hold requests',
          async () => {
            const held = sim.requests.filter((r) => r.path === '/slow' && ids.includes(r.headers['x-provisioner-workflow']));
            return held.length >= 9 ? held : null;
          },
          30_000,
        );
        const before = new Set(inFlight.map((r) => r.headers['idempotency-key']));
        const killedAt = Date.now();
        await victim.kill('SIGKILL');
        // A request sent again with a key seen before the kill is a step the dead replica held, taken over.
        const rerun = await eventually(
          'a step of the dead replica to run again',
          async () => sim.requests.find((r) => r.at > killedAt && r.path === '/slow' && before.has(r.headers['idempotency-key'])) ?? null,
          30_000,
        );
        takeovers.push(rerun.at - killedAt);
        await allEnded(replicas[0].url, ids, 60_000);
        replicas[1] = await startReplica(db.url, LEASED);
      }
      console.log(
        `takeover after SIGKILL: ${takeovers.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} (lease would have been 25 s)`,
      );
      for (const ms of takeovers) assert.ok(ms < 10_000, `taken over after ${ms} ms`);
    } finally {
      await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
      await sim.close();
      await db.drop();
    }
  });
});

describe('replica roles', { skip: !enabled }, () => {
  it('never executes a step on an api replica; a worker replica picks the work up', async () => {
    const sim = await startServiceSim();
    const db = await freshDatabaseUrl('postgres');
    const replicas: Replica[] = [];
    try {
      workloadService(sim, () => replicas);
      replicas.push(await startReplica(db.url, { PROVISIONER_ROLE: 'api' }));
      const api = replicas[0].url;
      await call(api, 'PUT', '/api/v1/registry/register', manifest(sim.url));
      const [id] = await startWorkflows(api, 1);
      // Give a (wrongly) executing replica ample chances: ten of its poll intervals.
      await new Promise((r) => setTimeout(r, 1000));
      const d = await call(api, 'GET', `/api/v1/admin/provisioning/workflows/${id}`);
      assert.equal(d.json.data.steps[0].status, 'pending');
      assert.equal(d.json.data.steps[0].attempt, 0);
      assert.equal(sim.requests.length, 0, 'the api replica sent no request');
      const worker = await startReplica(db.url, { PROVISIONER_ROLE: 'worker' });
      replicas.push(worker);
      assert.equal((await fetch(`${worker.url}/api/v1/provisioning/workflows`)).status, 404, 'a worker serves no API');
      await allEnded(api, [id], 30_000);
    } finally {
      await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
      await sim.close();
      await db.drop();
    }
  });
});

describe('PostgreSQL going away', { skip: !enabled }, () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(() => cluster?.destroy());

  it('answers 503 while the database is down, reports not ready, and finishes every workflow once it is back', async () => {
    const sim = await startServiceSim();
    const replicas: Replica[] = [];
    try {
      workloadService(sim, () => replicas);
      replicas.push(await startReplica(cluster.url), await startReplica(cluster.url));
      const base = replicas[0].url;
      await call(base, 'PUT', '/api/v1/registry/register', manifest(sim.url));
      const ids = await startWorkflows(base, 20);
      await eventually('some progress', async () => sim.calls('POST', '/a').length >= 5, 30_000);

      cluster.stop();
      const started = Date.now();
      const down = await call(base, 'GET', '/api/v1/admin/provisioning/workflows').catch((e: unknown) => {
        throw new Error(`replica did not answer while the database was down (${String(e)}); its output:\n${replicas[0].output()}`);
      });
      assert.equal(down.status, 503, JSON.stringify(down.json));
      assert.equal(down.json.error.code, 'unavailable');
      assert.ok(Date.now() - started < 10_000, 'answers promptly instead of hanging');
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process itself is alive');

      cluster.start();
      await eventually('ready again', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000);
      cluster.restart();
      await allEnded(base, ids, 90_000);
      assertOneKeyPerStep(sim, ids);
    } finally {
      await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
      await sim.close();
    }
  });
});
