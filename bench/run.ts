// `npm run bench`: every workload on SQLite and, when a server answers, on PostgreSQL; results go to
// bench/results/<YYYY-MM-DD>.json and .md, and a table is printed. Options: bench/options.ts and the
// README's Performance section. Smoke scale (`--scale=smoke`) keeps the harness working in `npm test`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { parseOptions, type BenchOptions, type WorkloadName } from './options.js';
import { forkChild } from './support/rpc.js';
import { freshPostgres, freshSqlite, LOCAL_POSTGRES, postgresReachable, withClient, type BenchDialect } from './support/databases.js';
import {
  figuresOf,
  markdown,
  printTable,
  type BenchReport,
  type DialectResults,
  type Machine,
  type ProfileDigest,
} from './support/report.js';
import { summarizeProfile, type Profile } from './profile-summary.js';
import { round } from './support/stats.js';
import type { SimApi } from './sim-service.js';
import type { DialectRun } from './workloads/context.js';
import { runCeiling } from './workloads/ceiling.js';
import { runProvisionerWorkloads } from './workloads/provisioner.js';
import { runReads } from './workloads/reads.js';
import { runPeers } from './workloads/peer.js';
import { runStartup, type StartupResult } from './workloads/startup.js';

const SIM_SCRIPT = fileURLToPath(new URL('./sim-service.ts', import.meta.url));

export async function runBench(
  options: BenchOptions,
  log: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<{ report: BenchReport; files: string[]; failed: boolean }> {
  const startedAt = new Date();
  const notes: string[] = [];
  const dialects: BenchDialect[] = [];
  for (const d of options.dialects) {
    if (d === 'postgres' && !(await postgresReachable(options.postgresUrl))) {
      const why = `PostgreSQL is not reachable at ${redact(options.postgresUrl)}`;
      if (options.postgresExplicit) throw new Error(`${why}; set BENCH_DATABASE_URL or DATABASE_URL, or run with --dialects=sqlite`);
      notes.push(`${why}: PostgreSQL workloads skipped (set BENCH_DATABASE_URL or DATABASE_URL to include them).`);
      continue;
    }
    dialects.push(d);
  }
  const machine = await describeMachine(options, dialects.includes('postgres'));
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });

  const sim = await forkChild<SimApi>(SIM_SCRIPT);
  const results: Partial<Record<BenchDialect, DialectResults>> = {};
  let failed = false;
  try {
    const { url: simUrl } = await sim.call('start', {});
    for (const dialect of dialects) {
      const r: DialectResults = (results[dialect] = {});
      const run: DialectRun = {
        dialect,
        options,
        sim,
        simUrl,
        freshDatabase: (label) => (dialect === 'sqlite' ? Promise.resolve(freshSqlite(label)) : freshPostgres(options.postgresUrl, label)),
        log: (line) => log(`[${dialect}] ${line}`),
      };
      const want = (w: WorkloadName) => options.only.has(w);
      const attempt = async <T>(names: WorkloadName[], fn: () => Promise<T>): Promise<T | { error: string }> => {
        try {
          return await fn();
        } catch (e) {
          failed = true;
          const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
          run.log(`${names.join('/')} failed: ${error}`);
          return { error };
        }
      };
      if (want('ceiling')) r.ceiling = await attempt(['ceiling'], () => runCeiling(run));
      if (want('throughput') || want('latency')) {
        const p = await attempt(['throughput', 'latency'], () =>
          runProvisionerWorkloads(run, { throughput: want('throughput'), latency: want('latency') }),
        );
        if ('error' in p) {
          if (want('throughput')) {
            r.throughput = p;
            r.memory = p;
          }
          if (want('latency')) r.latency = p;
        } else {
          if (p.throughput) r.throughput = p.throughput;
          if (p.memory) r.memory = p.memory;
          if (p.latency) r.latency = p.latency;
        }
      }
      if (want('peer'))
        r.peer =
          dialect === 'postgres' ? await attempt(['peer'], () => runPeers(run)) : { skipped: 'graphile-worker runs on PostgreSQL only' };
      if (want('reads')) r.reads = await attempt(['reads'], () => runReads(run));
    }
  } finally {
    await sim.call('close', null).catch(() => sim.kill());
    await sim.exited();
  }
  let startup: StartupResult | { error: string } | undefined;
  if (options.only.has('startup')) {
    try {
      startup = await runStartup(options.settings.startupRuns, (l) => log(`[cli] ${l}`));
    } catch (e) {
      failed = true;
      startup = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
      log(`[cli] startup failed: ${startup.error}`);
    }
  }
  const profiles = options.cpuProfDir ? digestProfiles(options.cpuProfDir, dialects) : {};

  const date = startedAt.toISOString().slice(0, 10);
  if (options.scale !== 'full') notes.push(`${options.scale} scale: the figures check that the harness works; only a full run measures.`);
  if (options.only.has('reads') && options.settings.readsWorkflows < 1_000_000)
    notes.push(
      `reads ran with ${options.settings.readsWorkflows.toLocaleString('en-US')} stored workflows, not 1,000,000: no reads target applies.`,
    );
  if (machine.loadAverageAtStart > 0.5)
    notes.push(`the load average was ${machine.loadAverageAtStart} when the run started: other work shared the machine.`);
  if (options.cpuProfDir)
    notes.push(
      "the figures were measured without V8's sampling profiler; the profiles summarised in this report come from a second pass in the same run, after each measured one (a drain of at most 4,000 workflows, half the paced latency run again, 4 s of each read endpoint), and show what the engine spends its CPU on, not the measured rates (the profiled drain's rate is in the JSON, `profiledDrain`). BENCH_CPU_PROF=0 skips them.",
    );
  for (const [d, r] of Object.entries(results)) {
    const reads = r?.reads;
    if (reads && 'seedReused' in reads && reads.seedReused)
      notes.push(`${d} reads: the seeded database was kept from an earlier run (BENCH_READS_CACHE=1).`);
  }
  if (machine.git?.srcDirty) notes.push('src/ had uncommitted changes: the figures are of the working tree, not of the commit named.');
  if (Object.keys(options.engineEnv).length > 0)
    notes.push(
      `engine tunables: ${Object.entries(options.engineEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  const report: BenchReport = {
    date,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    scale: options.scale,
    settings: options.settings,
    machine,
    results,
    startup,
    profiles,
    loadAverageAtEnd: loadavg().map((v) => round(v, 2)),
    notes,
    figures: figuresOf(results, options.settings.readsWorkflows >= 1_000_000, startup),
  };
  mkdirSync(options.outDir, { recursive: true });
  const files = [join(options.outDir, `${date}.json`), join(options.outDir, `${date}.md`)];
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1] as string, markdown(report));
  return { report, files, failed };
}

/** Each engine profile of the run (throughput, latency, reads per dialect), summarised: what limits each figure. */
function digestProfiles(dir: string, dialects: BenchDialect[]): Record<string, ProfileDigest> {
  const out: Record<string, ProfileDigest> = {};
  for (const dialect of dialects) {
    for (const workload of ['throughput', 'latency', 'reads']) {
      const file = join(dir, `${workload}-${dialect}.cpuprofile`);
      if (!existsSync(file)) continue;
      const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, 8);
      out[`${dialect} ${workload}`] = {
        file: relative(process.cwd(), file),
        sampledMs: s.totalMs,
        idleMs: s.idleMs,
        byActivity: s.byActivity,
        topSelf: s.selfByFunction,
      };
    }
  }
  return out;
}

async function describeMachine(options: BenchOptions, withPostgres: boolean): Promise<Machine> {
  const mem = new Database(':memory:');
  const sqlite = (mem.prepare('select sqlite_version() as v').get() as { v: string }).v;
  mem.close();
  const postgres = withPostgres
    ? await withClient(
        options.postgresUrl,
        async (c) => (await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?',
      ).then((v) => `PostgreSQL ${v}`)
    : null;
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${platform()} ${release()}`,
    sqlite,
    postgres,
    loadAverageAtStart: round(loadavg()[0] ?? 0, 2),
    git: gitState(),
  };
}

function gitState(): Machine['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return { commit, srcDirty: dirty !== '' };
  } catch {
    return null; // not a checkout (an unpacked tarball): the figures stand without it
  }
}

const redact = (url: string) => url.replace(/:[^:@/]*@/, ':***@');

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = parseOptions(process.argv.slice(2), process.env, LOCAL_POSTGRES);
  const t0 = performance.now();
  runBench(options).then(
    ({ report, files, failed }) => {
      process.stdout.write(`\n${printTable(report.figures)}\n\n`);
      for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
      process.stdout.write(`wrote ${files.join(' and ')} in ${round((performance.now() - t0) / 1000, 1)} s\n`);
      process.exitCode = failed ? 1 : 0;
    },
    (e: unknown) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
