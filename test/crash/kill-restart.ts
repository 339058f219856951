// Crash test harness: `provisioner serve` in a child process, SIGKILLed at random points of a running
// workload and restarted, against a service sim in the test process that behaves like a real service
// (deduplicates by Idempotency-Key, calls back, retries its callback while Provisioner is down).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../src/auth/token-signer.js';
import { freshDatabaseUrl, TEST_JWT_SECRET, TEST_SECRET_KEY, type TestDialect } from '../support/runtime.js';
import { startServiceSim } from '../support/service-sim.js';
import { ADMIN, REGISTRAR } from '../support/api.js';

const BIN = fileURLToPath(new URL('../../bin/provisioner.js', import.meta.url));
/** Each life of the child gets a fresh wave of workflows, so every kill lands with requests in flight. */
const WAVE = 4;
const KILLS = 3;
const STEPS = ['create_account', 'create_bucket', 'build_index', 'settle', 'finish'];

/** Seeded so a failing run can be told apart and replayed (the seed is in the test's diagnostics). */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  exited: Promise<unknown>;
}

export function crashSuite(dialect: TestDialect) {
  describe(`SIGKILL at random points of a running workload (${dialect})`, () => {
    it('ends every workflow correctly, and never re-sends a completed step with another Idempotency-Key', async (t) => {
      const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
      t.diagnostic(`seed ${seed} (set CRASH_SEED to replay the kill points)`);
      const random = prng(seed);
      const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
      const secret = `crash-secret-${randomBytes(6).toString('hex')}`;

      const db = await freshDatabaseUrl(dialect);
      const dataDir = mkdtempSync(join(tmpdir(), 'prov-crash-'));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const sim = await startServiceSim();
      const admin = `Bearer ${await signToken(TEST_JWT_SECRET, ADMIN, '1h')}`;
      const registrar = `Bearer ${await signToken(TEST_JWT_SECRET, REGISTRAR, '1h')}`;
      const stdout: string[] = [];
      const startups: number[] = [];
      let child: Child | null = null;
      const callbacks: Promise<void>[] = [];
      let stopped = false;
      t.after(async () => {
        stopped = true;
        if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
          child.proc.kill('SIGKILL');
          await child.exited;
        }
        await Promise.allSettled(callbacks);
        await sim.close();
        await db.drop();
        rmSync(dataDir, { recursive: true, force: true });
      });

      // A real service answers a repeated request with the same key the same way, and calls back until heard.
      const accounts = new Map<string, string>();
      sim.route('POST', '/accounts', (req) => {
        const key = req.headers['idempotency-key'];
        if (!accounts.has(key)) accounts.set(key, `acc-${accounts.size + 1}`);
        return { status: 201, json: { id: accounts.get(key) }, delayMs: between(80, 500) };
      });
      sim.route('POST', '/buckets', (req) => {
        const token = (req.body as { callback_token: string }).callback_token;
        callbacks.push(deliverCallback(token, between(50, 400)));
        return { status: 202, json: { accepted: true }, delayMs: between(80, 500) };
      });
      const polls = new Map<string, number>();
      sim.route('POST', '/indexes', (req) => ({
        status: 202,
        json: { poll_url: `/indexes/${encodeURIComponent(req.headers['x-provisioner-workflow'])}` },
        delayMs: between(80, 500),
      }));
      sim.route('GET', '/indexes/:id', (_req, _nth, p) => {
        const n = (polls.get(p.id) ?? 0) + 1;
        polls.set(p.id, n);
        return n < 3
          ? { json: { status: 'in_progress', metadata: { pct: n * 30 } } }
          : { json: { status: 'completed', endpoint: `https://index.example/${p.id}`, credentials: { index_key: secret } } };
      });
      sim.route('POST', '/finish', () => ({ json: { ok: true }, delayMs: between(80, 500) }));

      async function deliverCallback(token: string, delayMs: number) {
        await sleep(delayMs);
        while (!stopped) {
          try {
            const res = await fetch(`${base}/api/v1/provisioning/callback`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              signal: AbortSignal.timeout(5000),
              body: JSON.stringify({ callback_token: token, status: 'completed', metadata: { bucket: 'ok' } }),
            });
            await res.body?.cancel();
            if ([200, 409, 410].includes(res.status)) return;
          } catch {
            /* Provisioner is down (killed): call again shortly, as a service would */
          }
          await sleep(100);
        }
      }

      async function startChild(): Promise<Child> {
        const env: Record<string, string | undefined> = {
          ...process.env,
          DATABASE_URL: db.url,
          HOST: '127.0.0.1',
          PORT: String(port),
          PUBLIC_URL: base,
          PROVISIONER_JWT_SECRET: TEST_JWT_SECRET,
          PROVISIONER_SECRET_KEY: TEST_SECRET_KEY,
          PROVISIONER_DATA_DIR: dataDir,
          PROVISIONER_LEASE_GRACE_MS: '300',
          PROVISIONER_POLL_INTERVAL_MS: '50',
          PROVISIONER_WORKER_CONCURRENCY: '8',
          LOG_LEVEL: 'debug',
        };
        delete env.PROVISIONER_SERVICES_DIR;
        delete env.PROVISIONER_OLD_SECRET_KEYS;
        const proc = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        proc.stdout?.on('data', (c: Buffer) => stdout.push(c.toString()));
        proc.stderr?.on('data', (c: Buffer) => stdout.push(c.toString()));
        const exited = once(proc, 'exit');
        const started = Date.now();
        const until = started + 45_000;
        for (;;) {
          if (proc.exitCode !== null) throw new Error(`provisioner serve exited with ${proc.exitCode}: ${stdout.join('').slice(-2000)}`);
          try {
            const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) });
            if (r.status === 200) {
              startups.push(Date.now() - started);
              return { proc, exited };
            }
          } catch {
            /* not listening yet */
          }
          if (Date.now() > until) throw new Error(`provisioner serve did not become ready: ${stdout.join('').slice(-2000)}`);
          await sleep(100);
        }
      }

      async function api(method: string, path: string, auth: string, body?: unknown) {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(10_000),
        });
        return { status: res.status, json: (await res.json()) as any /* the API's envelope */ };
      }

      child = await startChild();
      const manifest = {
        slug: 'crashy',
        name: 'Crashy',
        version: '1.0.0',
        base_url: sim.url,
        provision: [
          { name: 'create_account', type: 'http', request: { path: '/accounts' }, timeout_s: 2 },
          {
            name: 'create_bucket',
            type: 'callback',
            depends_on: ['create_account'],
            timeout_s: 2,
            wait: { timeout_s: 60 },
            request: { path: '/buckets', body: { callback_token: '{{callback.token}}', account: '{{steps.create_account.output.id}}' } },
          },
          {
            name: 'build_index',
            type: 'poll',
            depends_on: ['create_account'],
            timeout_s: 2,
            request: { path: '/indexes' },
            poll: { interval_s: 0.1, timeout_s: 60 },
          },
          { name: 'settle', type: 'delay', depends_on: ['create_bucket', 'build_index'], delay: { seconds: 0.5 } },
          { name: 'finish', type: 'http', depends_on: ['settle'], timeout_s: 2, request: { path: '/finish' } },
        ],
      };
      assert.equal((await api('POST', '/api/v1/registry/register', registrar, manifest)).status, 201);
      const ids: string[] = [];
      const wave = async () => {
        for (let i = 0; i < WAVE; i++) {
          const r = await api('POST', '/api/v1/admin/provisioning/workflows', admin, {
            tenant_id: `tenant-${ids.length}`,
            service_slug: 'crashy',
          });
          assert.equal(r.status, 201, JSON.stringify(r.json));
          ids.push(r.json.data.id);
        }
      };

      // Kill at random points while the workload runs; restart at once each time.
      const killedAt: number[] = [];
      for (let k = 0; k < KILLS; k++) {
        await wave();
        const after = between(100, 1200);
        await sleep(after);
        killedAt.push(after);
        child.proc.kill('SIGKILL');
        const [, signal] = (await child.exited) as [number | null, string | null];
        assert.equal(signal, 'SIGKILL');
        child = await startChild();
      }
      await wave();
      t.diagnostic(`killed ${KILLS} times, ${killedAt.join(', ')} ms after each wave was started; starts took ${startups.join(', ')} ms`);

      const finals = new Map<string, any /* WorkflowDetailResponse */>();
      const until = Date.now() + 45_000;
      while (finals.size < ids.length) {
        for (const id of ids.filter((x) => !finals.has(x))) {
          const d = (await api('GET', `/api/v1/admin/provisioning/workflows/${id}`, admin)).json.data;
          if (['completed', 'failed', 'rolled_back', 'cancelled'].includes(d.status)) finals.set(id, d);
        }
        if (finals.size < ids.length && Date.now() > until) {
          const open = ids.filter((x) => !finals.has(x));
          const stuck = (await api('GET', '/api/v1/admin/provisioning/stuck?older_than_s=0', admin)).json.data;
          assert.fail(
            `${open.length} workflows did not finish after the kills: ${JSON.stringify(stuck.map((s: { id: string; reason: string }) => [s.id, s.reason]))}`,
          );
        }
        await sleep(200);
      }

      let resent = 0;
      for (const id of ids) {
        const d = finals.get(id);
        assert.equal(d.status, 'completed', `${id} ended ${d.status}: ${d.error}`);
        assert.equal(d.steps_completed, STEPS.length, `${id} counts ${d.steps_completed} completed steps`);
        assert.equal(d.has_credentials, true);
        for (const step of d.steps as { name: string; status: string; attempt: number }[]) {
          assert.equal(step.status, 'completed', `${id} ${step.name}`);
          if (step.name === 'settle') continue;
          const sent = sim.requests.filter(
            (r) => r.headers['x-provisioner-workflow'] === id && r.headers['idempotency-key']?.split(':')[1] === step.name,
          );
          assert.ok(sent.length >= 1, `${id} ${step.name} was never sent`);
          const keys = new Set(sent.map((r) => r.headers['idempotency-key']));
          // The service never failed, so the first attempt succeeded: every re-send after a crash carries its key.
          assert.deepEqual([...keys], [`${id}:${step.name}:1`], `${id} ${step.name} was sent with keys ${[...keys].join(', ')}`);
          if (step.name !== 'build_index') resent += sent.length - 1;
        }
      }
      t.diagnostic(`${resent} requests were sent again after a kill, each with its original key`);
      const accountsCreated = new Set(accounts.values());
      assert.equal(accountsCreated.size, ids.length, 'the service created exactly one account per workflow');

      // The child logged at debug level through every crash: no credential or callback token in it.
      const tokens = sim.requests.filter((r) => r.path === '/buckets').map((r) => (r.body as { callback_token: string }).callback_token);
      const log = stdout.join('');
      assert.ok(log.length > 0);
      assert.ok(!log.includes(secret), 'a credential reached the log');
      for (const token of tokens) assert.ok(!log.includes(token), 'a callback token reached the log');
    });
  });
}
