// Provisioner as the benchmark runs it: one process serving the API (callbacks, reads) and running the
// executor, composed from createRuntime + buildServer exactly as `provisioner serve` does (src/cli/serve.ts),
// except that the executor starts on command, so a backlog can be queued first and drained on the clock.
//
// It meters itself (peak RSS, CPU time, SQL statements by kind) so bench/run.ts can attribute costs.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Env } from '../src/config.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { buildServer } from '../src/http/server.js';
import { workflowsRepo } from '../src/store/workflows-repo.js';
import { serveRpc } from './support/rpc.js';

export interface EngineStart {
  databaseUrl: string;
  port: number;
  /** Extra PROVISIONER_* variables (e.g. PROVISIONER_WORKER_CONCURRENCY) on top of the defaults. */
  env: Env;
  /** SQLite: also time every statement by kind (costs two clock reads per statement; off by default). */
  timeStatements: boolean;
  jwtSecret: string;
  secretKey: string;
  dataDir: string;
}

export interface EngineMeter {
  /** Highest RSS sampled (every 20 ms) since the last reset, MB. */
  peakRssMb: number;
  /** The process's lifetime high-water mark (getrusage), MB. */
  maxRssMb: number;
  heapUsedMb: number;
  cpuMs: number;
  wallMs: number;
  /** SQL statements sent since the last reset, total and by kind (first words of the statement). */
  statements: { total: number; byKind: Record<string, number>; msByKind: Record<string, number> };
}

const TERMINAL = ['completed', 'failed', 'rolled_back', 'cancelled'];

export type EngineApi = {
  start(a: EngineStart): Promise<{ url: string; pid: number; database: string }>;
  register(a: { manifests: unknown[] }): Promise<void>;
  /** Starts one provision workflow per tenant (`concurrency` at a time); the executor may or may not run. */
  create(a: { slug: string; tenants: string[]; concurrency: number }): Promise<{ ms: number }>;
  /** Starts one workflow per tenant at a steady rate. */
  createPaced(a: { slug: string; tenants: string[]; perSecond: number }): Promise<{ ms: number }>;
  startExecutor(a: null): Promise<void>;
  /** Resolves once `count` workflows are in a terminal status (checked every `pollMs`). */
  waitTerminal(a: { count: number; pollMs: number; timeoutMs: number }): Promise<{ ms: number; byStatus: Record<string, number> }>;
  /** One workflow on an otherwise idle engine: start → terminal, watched every `pollMs`. */
  runOne(a: { slug: string; tenant: string; pollMs: number; timeoutMs: number }): Promise<{ ms: number; dbMs: number; status: string }>;
  resetMeter(a: null): Promise<void>;
  meter(a: null): Promise<EngineMeter>;
  /** V8's CPU profiler (what --cpu-prof runs) over a window of the run, written as a .cpuprofile. */
  profileStart(a: null): Promise<void>;
  profileStop(a: { file: string }): Promise<void>;
  stop(a: null): Promise<void>;
};

// ---- metering -----------------------------------------------------------------------------------

let statementsTotal = 0;
let statementsByKind = new Map<string, number>();
/** SQLite only: time inside the driver's prepare and execute calls per kind (synchronous, so CPU on this thread). */
let statementMs = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
function countStatement(kind: string) {
  statementsTotal++;
  add(statementsByKind, kind, 1);
}
const kinds = new Map<string, string>();
/** "update steps", "select workflows", "begin"… from the statement's first words (memoised by text). */
function statementKind(sqlText: string): string {
  let kind = kinds.get(sqlText);
  if (kind !== undefined) return kind;
  const s = sqlText.trimStart().slice(0, 120).replace(/"/g, '').replace(/\s+/g, ' ').toLowerCase();
  const verb = s.split(' ', 1)[0] ?? '';
  const table = verb === 'select' ? / from ([a-z_]+)/.exec(s)?.[1] ?? ''
    : verb === 'insert' ? / into ([a-z_]+)/.exec(s)?.[1] ?? ''
      : verb === 'update' ? /^update ([a-z_]+)/.exec(s)?.[1] ?? ''
        : verb === 'delete' ? / from ([a-z_]+)/.exec(s)?.[1] ?? '' : '';
  kind = table ? `${verb} ${table}` : s.slice(0, 24);
  // The executor's claim (steps-repo claimDue) is an update too; it is told apart by its window function.
  if (verb === 'update' && sqlText.includes('row_number()')) kind += ' (claim)';
  if (kinds.size < 10_000) kinds.set(sqlText, kind);
  return kind;
}
// SQLite: statements are counted and timed where they run (Statement#run/all/get/iterate), whether or not
// the store reuses prepared statements; prepares are timed apart. PostgreSQL: Client#query, every query.
const sqliteProto = Database.prototype as unknown as { prepare(this: unknown, sqlText: string): object };
const prepare = sqliteProto.prepare;
type Run = (this: { source: string }, ...args: unknown[]) => unknown;
let statementWrapped = false;
let timeStatements = false;
sqliteProto.prepare = function (this: unknown, sqlText: string) {
  const t0 = performance.now();
  const stmt = prepare.call(this, sqlText);
  if (timeStatements) add(statementMs, `prepare: ${statementKind(sqlText)}`, performance.now() - t0);
  if (!statementWrapped) {
    statementWrapped = true;
    const proto = Object.getPrototypeOf(stmt) as Record<'run' | 'all' | 'get' | 'iterate', Run>;
    for (const m of ['run', 'all', 'get', 'iterate'] as const) {
      const original = proto[m];
      proto[m] = function (this: { source: string }, ...args: unknown[]) {
        const kind = statementKind(this.source);
        countStatement(kind);
        if (!timeStatements) return original.apply(this, args);
        const s0 = performance.now();
        try { return original.apply(this, args); } finally { add(statementMs, kind, performance.now() - s0); }
      };
    }
  }
  return stmt;
};
const pgProto = pg.Client.prototype as unknown as { query(this: unknown, ...args: unknown[]): unknown };
const query = pgProto.query;
pgProto.query = function (this: unknown, ...args: unknown[]) {
  const first = args[0];
  countStatement(statementKind(typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : '?'));
  return query.apply(this, args);
};

let peakRss = 0;
let cpuBase = process.cpuUsage();
let wallBase = performance.now();
setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 20).unref();

// ---- the API ------------------------------------------------------------------------------------

let rt: Runtime | null = null;
let app: FastifyInstance | null = null;
let profiler: Session | null = null;
const need = (): Runtime => { if (!rt) throw new Error('call start first'); return rt; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startRequest(slug: string, tenantId: string) {
  return { tenantId, serviceSlug: slug, kind: 'provision' as const, parameters: {}, idempotencyKey: null, actor: 'bench' };
}

const api: EngineApi = {
  async start(a) {
    timeStatements = a.timeStatements;
    const config = loadConfig({
      DATABASE_URL: a.databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(a.port),
      PROVISIONER_JWT_SECRET: a.jwtSecret,
      PROVISIONER_SECRET_KEY: a.secretKey,
      PROVISIONER_DATA_DIR: a.dataDir,
      LOG_LEVEL: 'warn',
      // One simulated service calls back from one address for every workflow; the default of 600 a
      // minute per address would throttle the benchmark rather than measure the engine.
      PROVISIONER_CALLBACK_RATE_LIMIT: '1000000',
      ...a.env,
    });
    rt = await createRuntime(config);
    app = await buildServer(rt);
    await app.listen({ host: config.listen.host, port: config.listen.port });
    return { url: config.publicUrl, pid: process.pid, database: rt.store.dialect.name };
  },

  async register({ manifests }) {
    for (const m of manifests) await need().registry.upsert(m);
  },

  async create({ slug, tenants, concurrency }) {
    const r = need();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, tenants.length) }, async () => {
      while (next < tenants.length) await r.starter.start(startRequest(slug, tenants[next++] as string));
    }));
    return { ms: performance.now() - t0 };
  },

  async createPaced({ slug, tenants, perSecond }) {
    const r = need();
    const t0 = performance.now();
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < tenants.length; i++) {
      const due = t0 + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      started.push(r.starter.start(startRequest(slug, tenants[i] as string)));
    }
    await Promise.all(started);
    return { ms: performance.now() - t0 };
  },

  async startExecutor() {
    const r = need();
    r.executor?.start();
    r.webhooks?.start();
  },

  async waitTerminal({ count, pollMs, timeoutMs }) {
    const r = need();
    const t0 = performance.now();
    for (;;) {
      const byStatus = await workflowsRepo.countByStatus(r.store.db, {});
      const done = TERMINAL.reduce((n, s) => n + (byStatus[s] ?? 0), 0);
      if (done >= count) return { ms: performance.now() - t0, byStatus };
      if (performance.now() - t0 > timeoutMs) throw new Error(`timed out: ${done} of ${count} workflows ended (${JSON.stringify(byStatus)})`);
      await sleep(pollMs);
    }
  },

  async runOne({ slug, tenant, pollMs, timeoutMs }) {
    const r = need();
    const t0 = performance.now();
    const { workflowId } = await r.starter.start(startRequest(slug, tenant));
    for (;;) {
      const wf = await workflowsRepo.get(r.store.db, workflowId);
      if (wf && TERMINAL.includes(wf.status)) {
        return { ms: performance.now() - t0, dbMs: (wf.completed_at ?? wf.updated_at) - wf.created_at, status: wf.status };
      }
      if (performance.now() - t0 > timeoutMs) throw new Error(`workflow ${workflowId} did not end within ${timeoutMs} ms (status ${wf?.status})`);
      await sleep(pollMs);
    }
  },

  async resetMeter() {
    peakRss = process.memoryUsage.rss();
    cpuBase = process.cpuUsage();
    wallBase = performance.now();
    statementsTotal = 0;
    statementsByKind = new Map();
    statementMs = new Map();
  },

  async meter() {
    const cpu = process.cpuUsage(cpuBase);
    const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return {
      peakRssMb: mb(peakRss),
      maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
      heapUsedMb: mb(process.memoryUsage().heapUsed),
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - wallBase,
      statements: {
        total: statementsTotal,
        byKind: Object.fromEntries([...statementsByKind].sort((x, y) => y[1] - x[1])),
        msByKind: Object.fromEntries([...statementMs].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Math.round(v)])),
      },
    };
  },

  async profileStart() {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  },

  async profileStop({ file }) {
    if (!profiler) throw new Error('profileStart was not called');
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    profiler.disconnect();
    profiler = null;
  },

  async stop() {
    await app?.close();
    await rt?.close(2000);
    // Exit after the reply has gone out; --cpu-prof writes its profile on this exit.
    setImmediate(() => process.exit(0));
  },
};

serveRpc(api);
