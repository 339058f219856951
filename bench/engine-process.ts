// Provisioner as the benchmark runs it: `provisioner serve` in its own process, started through the same
// function the CLI uses (startServer in src/cli/serve.ts) with the defaults of a fresh install. Everything
// else (manifests, workflows, status) goes through the HTTP API from the bench's own process
// (bench/support/api.ts), so the bench measures the engine only through its public surfaces and keeps
// working whatever the engine does inside. The role decides what runs: `api` (no executor) queues a
// backlog, `all` (API + executor, the default of `serve`) drains it.
//
// It meters itself (peak RSS, CPU time, SQL statements by kind) so bench/run.ts can attribute costs.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { loadConfig, type Env } from '../src/config.js';
import { startServer, type RunningServer } from '../src/cli/serve.js';
import { serveRpc } from './support/rpc.js';
// Also preloaded with --import (bench/workloads/context.ts), so that worker threads count their statements too.
import { resetStatements, statementsSnapshot, timeStatements } from './support/statement-meter.mjs';

export interface EngineStart {
  databaseUrl: string;
  port: number;
  /** `all` (API + executor, what `provisioner serve` runs by default) or `api` (no executor). */
  role: 'all' | 'api';
  /** Extra PROVISIONER_* variables (e.g. PROVISIONER_WORKER_CONCURRENCY) on top of the defaults. */
  env: Env;
  /** SQLite: also time every statement by kind (costs two clock reads per statement; off by default). */
  timeStatements: boolean;
  jwtSecret: string;
  secretKey: string;
  dataDir: string;
}

export interface EngineMeter {
  /** Highest RSS sampled (every 100 ms) since the last reset, MB. */
  peakRssMb: number;
  /** The process's lifetime high-water mark (getrusage), MB. */
  maxRssMb: number;
  heapUsedMb: number;
  cpuMs: number;
  wallMs: number;
  /** SQL statements sent since the last reset, total and by kind (first words of the statement). */
  statements: { total: number; byKind: Record<string, number>; msByKind: Record<string, number> };
}

export type EngineApi = {
  start(a: EngineStart): Promise<{ url: string; pid: number; database: string }>;
  resetMeter(a: null): Promise<void>;
  meter(a: null): Promise<EngineMeter>;
  /** V8's CPU profiler (what --cpu-prof runs) over a window of the run, written as a .cpuprofile. */
  profileStart(a: null): Promise<void>;
  profileStop(a: { file: string }): Promise<void>;
  stop(a: null): Promise<void>;
};

// ---- metering -----------------------------------------------------------------------------------

let peakRss = 0;
let cpuBase = process.cpuUsage();
let wallBase = performance.now();
// Sampled every 100 ms (at 20 ms the sampling itself took 2-3 % of the engine's CPU in a profile); the
// kernel's high-water mark (maxRssMb) catches what falls between samples.
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100).unref();

// ---- the API ------------------------------------------------------------------------------------

let server: RunningServer | null = null;
let profiler: Session | null = null;

const api: EngineApi = {
  async start(a) {
    timeStatements(a.timeStatements);
    // The defaults of a fresh install: only what every deployment sets (database, listen address, secrets,
    // data dir, log level) and the experiment tunables the caller passed. No limit is raised, the callback
    // rate limit included: the service of the bench calls back for every tenant from one address, as a
    // real one would, and whatever the default refuses shows up in the results (429s counted by the service).
    const config = loadConfig({
      DATABASE_URL: a.databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(a.port),
      PROVISIONER_ROLE: a.role,
      PROVISIONER_JWT_SECRET: a.jwtSecret,
      PROVISIONER_SECRET_KEY: a.secretKey,
      PROVISIONER_DATA_DIR: a.dataDir,
      LOG_LEVEL: 'warn',
      ...a.env,
    });
    server = await startServer(config);
    return { url: config.publicUrl, pid: process.pid, database: server.runtime.store.dialect.name };
  },

  async resetMeter() {
    peakRss = process.memoryUsage.rss();
    cpuBase = process.cpuUsage();
    wallBase = performance.now();
    resetStatements();
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
      statements: statementsSnapshot(),
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
    await server?.stop(2000);
    // Exit after the reply has gone out; --cpu-prof writes its profile on this exit.
    setImmediate(() => process.exit(0));
  },
};

serveRpc(api);
