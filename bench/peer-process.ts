// The peer: the bench's six-step workflow built the way a user would without Provisioner, as a chain of
// graphile-worker 0.17 jobs on the same PostgreSQL, calling the same simulated service.
//
//   step_a (POST /accounts) → in one transaction: a join row {remaining: 3} and jobs step_b, step_c, step_d
//   step_b (POST /buckets with a callback URL) → the service calls this process's receiver, which joins
//   step_c (POST /dns) → joins
//   step_d (POST /indexes) → job step_d_poll → GET the Location → completed → joins
//   join: one statement decrements the counter row and adds step_e when it reaches 0 (atomic, no lost join)
//   step_e (POST /keys) → job step_f (POST /notify)
//
// It runs in one of two set-ups (bench/workloads/peer.ts): its defaults, with Provisioner's concurrency
// (16) and the pool graphile-worker asks for at start (concurrency + 4); or tuned as its performance page
// (worker.graphile.org/docs/performance) advises: `preset.worker.localQueue.size` (the pool locks a batch
// of jobs and hands them out locally), batched completions (`completeJobBatchDelay`, `failJobBatchDelay`
// ≥ 0), concurrency 64 and a pool of concurrency + 2.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type TaskList, type WorkerUtils } from 'graphile-worker';
import { serveRpc } from './support/rpc.js';
import { WORKFLOW_HEADER } from './sim-service.js';

/** How graphile-worker runs; the option names are those of graphile-worker 0.17 (`preset.worker`). */
export interface PeerSetup {
  concurrency: number;
  maxPoolSize: number;
  /** `preset.worker.localQueue.size`; absent: graphile-worker's default (-1, off). */
  localQueueSize?: number;
  /** `preset.worker.completeJobBatchDelay` / `failJobBatchDelay` in ms; absent: the default (-1, off). */
  completeJobBatchDelay?: number;
  failJobBatchDelay?: number;
}

export type PeerApi = {
  start(a: { databaseUrl: string; simUrl: string; setup: PeerSetup }): Promise<{ receiverUrl: string }>;
  /** Adds one step_a job per workflow (the runner not yet started). */
  enqueue(a: { workflows: string[] }): Promise<{ ms: number }>;
  startRunner(a: null): Promise<void>;
  /** Resolves once `count` step_f jobs have succeeded; rejects at the first failed job (a bench bug, not a retry case). */
  waitDone(a: { count: number; timeoutMs: number }): Promise<void>;
  /** Resolves once no job is left (checked every `pollMs`). */
  waitIdle(a: { pollMs: number; timeoutMs: number }): Promise<{ ms: number }>;
  resetMeter(a: null): Promise<void>;
  meter(a: null): Promise<{ peakRssMb: number; cpuMs: number; wallMs: number; failedJobs: number }>;
  stop(a: null): Promise<void>;
};

type Payload = { wf: string; account?: string; poll?: string };

// Quiet: graphile logs every job at debug and its start/stop at info.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`[peer] ${level}: ${message}\n`);
});

let pool: pg.Pool | null = null;
let utils: WorkerUtils | null = null;
let runner: Runner | null = null;
let connectionString = '';
let setup: PeerSetup = { concurrency: 16, maxPoolSize: 20 };
let simUrl = '';
let receiverUrl = '';
let failedJobs = 0;
let firstFailure: string | null = null;
let finished = 0;
const doneWaiters = new Set<{ count: number; resolve: () => void; reject: (e: Error) => void }>();
function settleWaiters() {
  for (const w of doneWaiters) {
    if (firstFailure !== null) {
      doneWaiters.delete(w);
      w.reject(new Error(`a peer job failed: ${firstFailure}`));
    } else if (finished >= w.count) {
      doneWaiters.delete(w);
      w.resolve();
    }
  }
}
let peakRss = 0;
let cpuBase = process.cpuUsage();
let wallBase = performance.now();
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20).unref();

/** One request to the simulated service, as the engine sends it (JSON, workflow header, idempotency key). */
async function call(
  method: string,
  path: string,
  wf: string,
  step: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; location: string | null }> {
  const res = await fetch(new URL(path, simUrl), {
    method,
    headers: { 'content-type': 'application/json', [WORKFLOW_HEADER]: wf, 'idempotency-key': `${wf}:${step}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`);
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, location: res.headers.get('location') };
}

/** The join: one statement, so two parents finishing at once cannot both (or neither) start step_e. */
async function join(db: { query(text: string, values?: unknown[]): Promise<unknown> }, wf: string, account: string) {
  await db.query(
    `with left_over as (update bench_peer_joins set remaining = remaining - 1 where workflow_id = $1 returning remaining)
    select graphile_worker.add_job('step_e', json_build_object('wf', $1::text, 'account', $2::text)) from left_over where remaining = 0`,
    [wf, account],
  );
}

const tasks: TaskList = {
  async step_a(payload, helpers) {
    const { wf } = payload as Payload;
    const { json } = await call('POST', '/accounts', wf, 'a', { tenant: wf });
    const account = String(json.id);
    await helpers.withPgClient(async (client) => {
      await client.query('begin');
      try {
        await client.query('insert into bench_peer_joins (workflow_id, remaining) values ($1, 3)', [wf]);
        await client.query(
          `select graphile_worker.add_job('step_b', $1::json), graphile_worker.add_job('step_c', $1::json),
          graphile_worker.add_job('step_d', $1::json)`,
          [JSON.stringify({ wf, account })],
        );
        await client.query('commit');
      } catch (e) {
        await client.query('rollback');
        throw e;
      }
    });
  },
  async step_b(payload) {
    const { wf, account } = payload as Required<Pick<Payload, 'wf' | 'account'>>;
    await call('POST', '/buckets', wf, 'b', { account, callback_url: receiverUrl, callback_token: `${wf}|${account}` });
  },
  async step_c(payload, helpers) {
    const { wf, account } = payload as Required<Pick<Payload, 'wf' | 'account'>>;
    await call('POST', '/dns', wf, 'c', { account });
    await join(helpers, wf, account);
  },
  async step_d(payload, helpers) {
    const { wf, account } = payload as Required<Pick<Payload, 'wf' | 'account'>>;
    const { location } = await call('POST', '/indexes', wf, 'd', { account });
    await helpers.addJob('step_d_poll', { wf, account, poll: location ?? '' });
  },
  async step_d_poll(payload, helpers) {
    const { wf, account, poll } = payload as Required<Payload>;
    const { json } = await call('GET', poll, wf, 'd-poll');
    if (json.status === 'completed') await join(helpers, wf, account);
    else await helpers.addJob('step_d_poll', payload as Payload, { runAt: new Date(Date.now() + 10) });
  },
  async step_e(payload, helpers) {
    const { wf, account } = payload as Required<Pick<Payload, 'wf' | 'account'>>;
    await call('POST', '/keys', wf, 'e', { account });
    await helpers.addJob('step_f', { wf, account });
  },
  async step_f(payload) {
    const { wf, account } = payload as Required<Pick<Payload, 'wf' | 'account'>>;
    await call('POST', '/notify', wf, 'f', { account });
    finished++;
    settleWaiters();
  },
};

/** The small HTTP receiver for the callback step: the service's callback joins the workflow. */
async function startReceiver(): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { callback_token?: string; status?: string };
      const [wf, account] = String(body.callback_token).split('|') as [string, string];
      const done = body.status === 'completed' ? join(pool as pg.Pool, wf, account) : Promise.resolve();
      done.then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
        (e: unknown) => {
          process.stderr.write(`[peer] callback failed: ${String(e)}\n`);
          res.writeHead(500).end();
        },
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/callback`;
}

const api: PeerApi = {
  async start(a) {
    connectionString = a.databaseUrl;
    simUrl = a.simUrl;
    setup = a.setup;
    await runMigrations({ connectionString, logger });
    pool = new pg.Pool({ connectionString, max: 10 });
    await pool.query('create table bench_peer_joins (workflow_id text primary key, remaining integer not null)');
    utils = await makeWorkerUtils({ connectionString, logger });
    receiverUrl = await startReceiver();
    return { receiverUrl };
  },

  async enqueue({ workflows }) {
    const u = utils as WorkerUtils;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < workflows.length) await u.addJob('step_a', { wf: workflows[next++] as string });
      }),
    );
    return { ms: performance.now() - t0 };
  },

  async startRunner() {
    // maxPoolSize: graphile-worker warns when its pool is smaller than its concurrency; a user would follow it.
    const worker = {
      ...(setup.localQueueSize !== undefined ? { localQueue: { size: setup.localQueueSize } } : {}),
      ...(setup.completeJobBatchDelay !== undefined ? { completeJobBatchDelay: setup.completeJobBatchDelay } : {}),
      ...(setup.failJobBatchDelay !== undefined ? { failJobBatchDelay: setup.failJobBatchDelay } : {}),
    };
    runner = await run({
      connectionString,
      concurrency: setup.concurrency,
      maxPoolSize: setup.maxPoolSize,
      noHandleSignals: true,
      taskList: tasks,
      logger,
      preset: { worker },
    });
    runner.events.on('job:failed', ({ job, error }) => {
      failedJobs++;
      firstFailure ??= `${job.task_identifier}: ${error instanceof Error ? error.message : String(error)}`;
      settleWaiters();
    });
  },

  waitDone({ count, timeoutMs }) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        doneWaiters.delete(w);
        reject(new Error(`${finished} of ${count} workflows finished after ${timeoutMs} ms`));
      }, timeoutMs);
      const w = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      doneWaiters.add(w);
      settleWaiters();
    });
  },

  async waitIdle({ pollMs, timeoutMs }) {
    const t0 = performance.now();
    for (;;) {
      const r = await (pool as pg.Pool).query<{ n: string }>('select count(*)::text as n from graphile_worker.jobs');
      if (Number(r.rows[0]?.n) === 0) return { ms: performance.now() - t0 };
      if (performance.now() - t0 > timeoutMs) throw new Error(`${r.rows[0]?.n} jobs still queued after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, pollMs));
    }
  },

  async resetMeter() {
    peakRss = process.memoryUsage.rss();
    cpuBase = process.cpuUsage();
    wallBase = performance.now();
  },

  async meter() {
    const cpu = process.cpuUsage(cpuBase);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return {
      peakRssMb: Math.round(peakRss / 104857.6) / 10,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - wallBase,
      failedJobs,
    };
  },

  async stop() {
    await runner?.stop();
    await utils?.release();
    await pool?.end();
    setImmediate(() => process.exit(0));
  },
};

serveRpc(api);
