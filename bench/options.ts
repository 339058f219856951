// What a bench run does and how big it is: environment variables, or the same as --flags
// (`npm run bench -- --scale=smoke --dialects=sqlite`). Flags win over the environment.
import { resolve } from 'node:path';
import type { BenchDialect } from './support/databases.js';

export const WORKLOADS = ['ceiling', 'throughput', 'memory', 'latency', 'reads', 'peer', 'startup'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const SCALES = ['smoke', 'full'] as const;
export type Scale = (typeof SCALES)[number];

export interface ScaleSettings {
  /** Workflows queued and then drained by the throughput workload (and by each peer set-up). */
  throughputWorkflows: number;
  /** Workflows started through the API at `latencyRate`/s while the callback → next step latency is recorded. */
  latencyWorkflows: number;
  latencyRate: number;
  /** In the latency workload the service calls back once both siblings of the callback step were answered, and this long after. */
  latencyCallbackDelayMs: number;
  /** Workflows run one at a time on an idle engine (start → completion). */
  idleRuns: number;
  /** Workflows stored for the reads workload, and their tenants and services. */
  readsWorkflows: number;
  readsTenants: number;
  readsServices: number;
  readsConnections: number;
  readsWarmupS: number;
  readsDurationS: number;
  ceilingDurationS: number;
  /** Timed runs of `node bin/provisioner.js token --help` (after one untimed run); the median is reported. */
  startupRuns: number;
}

export const SCALE_SETTINGS: Record<Scale, ScaleSettings> = {
  smoke: {
    throughputWorkflows: 60,
    latencyWorkflows: 8,
    latencyRate: 20,
    latencyCallbackDelayMs: 30,
    idleRuns: 3,
    readsWorkflows: 10_000,
    readsTenants: 500,
    readsServices: 5,
    readsConnections: 10,
    readsWarmupS: 0,
    readsDurationS: 1,
    ceilingDurationS: 1,
    startupRuns: 1,
  },
  full: {
    throughputWorkflows: 10_000,
    latencyWorkflows: 400,
    latencyRate: 20,
    latencyCallbackDelayMs: 30,
    idleRuns: 20,
    readsWorkflows: 1_000_000,
    readsTenants: 50_000,
    readsServices: 5,
    readsConnections: 10,
    readsWarmupS: 3,
    readsDurationS: 10,
    ceilingDurationS: 10,
    startupRuns: 5,
  },
};

export interface BenchOptions {
  scale: Scale;
  settings: ScaleSettings;
  /** Requested dialects; PostgreSQL is dropped (with a note) when unreachable unless asked for explicitly. */
  dialects: BenchDialect[];
  postgresExplicit: boolean;
  /** Admin connection used to create and drop the run's PostgreSQL databases. */
  postgresUrl: string;
  outDir: string;
  only: ReadonlySet<WorkloadName>;
  /**
   * When set: V8 CPU profiles of the engine, each from a second pass after the measured one (a smaller drain,
   * a shorter paced run, a few seconds of reads), summarised into the results, into this directory. On by
   * default at full scale (bench/tmp/profiles); BENCH_CPU_PROF=0 turns it off.
   */
  cpuProfDir: string | null;
  /** Only when BENCH_CPU_PROF / --cpu-prof was given: also the draining engine's whole life under node --cpu-prof. */
  cpuProfWholeProcess: boolean;
  /** Reads: seed the 1,000,000 workflows once and reuse the database in later runs (BENCH_READS_CACHE=1). */
  readsCache: boolean;
  /** SQLite: time each statement kind in the engine (BENCH_STATEMENT_TIMES=1); adds a little overhead. */
  timeStatements: boolean;
  /** Tunables passed to the engine (PROVISIONER_WORKER_CONCURRENCY, …) for experiments; empty by default. */
  engineEnv: Record<string, string>;
}

// For experiments only; a run with any of them says so in its notes. The callback rate limit is here so its
// effect can be studied (lowered or raised), never raised by default.
const ENGINE_TUNABLES = [
  'PROVISIONER_WORKER_CONCURRENCY',
  'PROVISIONER_POLL_INTERVAL_MS',
  'PROVISIONER_DB_POOL_SIZE',
  'PROVISIONER_LEASE_GRACE_MS',
  'PROVISIONER_CALLBACK_RATE_LIMIT',
  'PROVISIONER_HEAP_GROWING_PERCENT',
];

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv, defaultPostgres: string): BenchOptions {
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}; flags look like --scale=smoke`);
    flags.set(m[1] as string, m[2] ?? 'true');
  }
  const pick = (flag: string, name: string) => flags.get(flag) ?? (env[name] === '' ? undefined : env[name]);

  const scaleRaw = pick('scale', 'BENCH_SCALE') ?? 'full';
  if (!(SCALES as readonly string[]).includes(scaleRaw)) throw new Error(`BENCH_SCALE=${scaleRaw}: expected ${SCALES.join(' or ')}`);
  const scale = scaleRaw as Scale;
  const settings = { ...SCALE_SETTINGS[scale] };
  const workflows = pick('workflows', 'BENCH_WORKFLOWS');
  if (workflows !== undefined) settings.throughputWorkflows = positiveInt('BENCH_WORKFLOWS', workflows);
  const reads = pick('reads-workflows', 'BENCH_READS_WORKFLOWS');
  if (reads !== undefined) settings.readsWorkflows = positiveInt('BENCH_READS_WORKFLOWS', reads);

  const dialectsRaw = pick('dialects', 'BENCH_DIALECTS');
  const dialects = (dialectsRaw ?? 'sqlite,postgres')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`BENCH_DIALECTS: ${d} is not sqlite or postgres`);

  const databaseUrl = env.DATABASE_URL && /^postgres(ql)?:\/\//.test(env.DATABASE_URL) ? env.DATABASE_URL : undefined;
  const onlyRaw = pick('only', 'BENCH_ONLY');
  const only = new Set<WorkloadName>(onlyRaw ? (onlyRaw.split(',').map((w) => w.trim()) as WorkloadName[]) : WORKLOADS);
  for (const w of only)
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`BENCH_ONLY: ${w} is not one of ${WORKLOADS.join(', ')}`);
  // Memory is measured during the throughput run, so it comes with it.
  if (only.has('memory')) only.add('throughput');
  const cpuProfAsked = pick('cpu-prof', 'BENCH_CPU_PROF');
  const cpuProf = cpuProfAsked ?? (scale === 'full' ? 'true' : undefined);
  const latencyRate = pick('latency-rate', 'BENCH_LATENCY_RATE');
  if (latencyRate !== undefined) settings.latencyRate = positiveInt('BENCH_LATENCY_RATE', latencyRate);

  return {
    scale,
    settings,
    dialects: dialects as BenchDialect[],
    postgresExplicit: dialectsRaw !== undefined && dialects.includes('postgres'),
    postgresUrl: pick('database-url', 'BENCH_DATABASE_URL') ?? databaseUrl ?? defaultPostgres,
    outDir: resolve(pick('out', 'BENCH_OUT_DIR') ?? 'bench/results'),
    only,
    cpuProfDir:
      cpuProf === undefined || ['0', 'false'].includes(cpuProf)
        ? null
        : resolve(['1', 'true'].includes(cpuProf) ? 'bench/tmp/profiles' : cpuProf),
    cpuProfWholeProcess: cpuProfAsked !== undefined && !['0', 'false'].includes(cpuProfAsked),
    timeStatements: ['1', 'true'].includes(pick('statement-times', 'BENCH_STATEMENT_TIMES') ?? ''),
    readsCache: ['1', 'true'].includes(pick('reads-cache', 'BENCH_READS_CACHE') ?? ''),
    engineEnv: Object.fromEntries(ENGINE_TUNABLES.filter((k) => env[k]).map((k) => [k, env[k] as string])),
  };
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a whole number above 0`);
  return n;
}
