// Throughput, memory and latency of Provisioner on one dialect, on one fresh database and one engine process:
//  1. throughput: N workflows are queued (executor held), then the executor starts and the clock runs until
//     every workflow has ended; memory is the engine's RSS over both phases;
//  2. latency: workflows started at a steady rate, the service calling back after a short delay so the
//     callback is the last parent of the join; the simulated service times callback → dependent step;
//  3. idle: one workflow at a time, start → completion.
import { join } from 'node:path';
import { benchManifest, STEPS_PER_WORKFLOW } from '../manifest.js';
import { loadAverage, machineBusyPercent, machineCpu, round, summarize, type Summary } from '../support/stats.js';
import { postgresCommits } from '../support/databases.js';
import { launchEngine, tenants, type DialectRun } from './context.js';

export interface ThroughputResult {
  workflows: number;
  steps: number;
  /** Starting the N workflows (queued, executor held), for reference. */
  createPerS: number;
  drainS: number;
  workflowsPerS: number;
  stepsPerS: number;
  /** Of one core: the engine is one Node.js process. */
  engineCpuPercent: number;
  /**
   * Engine CPU time per completed step. Unlike steps/s it hardly depends on what else runs on the
   * machine, so 1000 / this is what one free core could sustain if nothing else limited it.
   */
  engineCpuMsPerStep: number;
  simCpuPercent: number;
  /** Of all cores, everything on the machine (engine, service, database, bench). */
  machineCpuPercent: number;
  /** 1-minute load average just before the drain: above ~1, other work competed for the 2 cores. */
  loadAverageBefore: number;
  statementsPerStep: number;
  /** The most frequent statement kinds, per completed step. */
  statementsPerStepByKind: Record<string, number>;
  /** SQLite with BENCH_STATEMENT_TIMES=1 only: ms spent executing (and preparing) statements by kind during the drain. */
  statementMsByKind: Record<string, number>;
  /** PostgreSQL only: commits the server counted for the database, per second of the drain. */
  commitsPerS: number | null;
  ended: Record<string, number>;
}

export interface MemoryResult {
  /** The engine after start-up (API, executor, store), before any workflow. */
  startRssMb: number;
  /** Highest sampled RSS of the engine while queueing and draining the throughput workload. */
  peakRssMb: number;
  queuePeakRssMb: number;
  drainPeakRssMb: number;
  /** getrusage high-water mark of the engine process over its whole life. */
  maxRssMb: number;
}

export interface LatencyResult {
  workflows: number;
  /** Start rate: a quarter of the measured throughput, at most the scale's latencyRate. */
  perSecond: number;
  /** Callback sent by the service → the dependent step's request reaches the service (ms). */
  callbackToNextStep: Summary;
  /** Callback answered 200 → the dependent step's request reaches the service (ms). */
  callbackAnsweredToNextStep: Summary;
  excluded: number;
  /** One workflow on an idle engine: start → completed, as a client watching the database sees it (ms). */
  idleWorkflow: Summary;
}

export interface ProvisionerResults { throughput?: ThroughputResult; memory?: MemoryResult; latency?: LatencyResult }

const SLUG = 'bench';
const QUEUE_CONCURRENCY = 16;

export async function runProvisionerWorkloads(run: DialectRun, want: { throughput: boolean; latency: boolean }): Promise<ProvisionerResults> {
  const { settings } = run.options;
  const db = await run.freshDatabase('engine');
  const engine = await launchEngine(run, db.url, { profileAs: `engine-${run.dialect}` })
    .catch(async (e: unknown) => { await db.drop(); throw e; });
  const out: ProvisionerResults = {};
  try {
    await engine.child.call('register', { manifests: [benchManifest(SLUG, run.simUrl)] });
    let started = 0;

    if (want.throughput) {
      const n = settings.throughputWorkflows;
      run.log(`throughput: queueing ${n} workflows`);
      await run.sim.call('reset', null);
      await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
      await engine.child.call('resetMeter', null);
      const startMeter = await engine.child.call('meter', null);
      const queued = await engine.child.call('create', { slug: SLUG, tenants: tenants('tp', n), concurrency: QUEUE_CONCURRENCY });
      started += n;
      const queueMeter = await engine.child.call('meter', null);
      await engine.child.call('resetMeter', null);

      run.log(`throughput: draining ${n} workflows (${n * STEPS_PER_WORKFLOW} steps)`);
      const commits0 = run.dialect === 'postgres' ? await postgresCommits(run.options.postgresUrl, db.name) : 0;
      const load0 = loadAverage();
      const cpu0 = machineCpu();
      const sim0 = await run.sim.call('stats', null);
      const profile = run.options.cpuProfDir ? join(run.options.cpuProfDir, `throughput-${run.dialect}.cpuprofile`) : null;
      if (profile) await engine.child.call('profileStart', null);
      const t0 = performance.now();
      await engine.child.call('startExecutor', null);
      await run.sim.call('waitFor', { route: 'notify', count: n, timeoutMs: Math.max(120_000, n * 250) });
      const ended = await engine.child.call('waitTerminal', { count: started, pollMs: 5, timeoutMs: 60_000 });
      const drainMs = performance.now() - t0;
      if (profile) { await engine.child.call('profileStop', { file: profile }); run.log(`throughput: drain profile in ${profile}`); }
      const cpu1 = machineCpu();
      const drainMeter = await engine.child.call('meter', null);
      const sim1 = await run.sim.call('stats', null);
      const commits1 = run.dialect === 'postgres' ? await postgresCommits(run.options.postgresUrl, db.name) : 0;

      const steps = n * STEPS_PER_WORKFLOW;
      const drainS = drainMs / 1000;
      const perStep = (v: number) => round(v / steps, 2);
      out.throughput = {
        workflows: n, steps,
        createPerS: round(n / (queued.ms / 1000), 0),
        drainS: round(drainS, 2),
        workflowsPerS: round(n / drainS, 1),
        stepsPerS: round(steps / drainS, 0),
        engineCpuPercent: round((100 * drainMeter.cpuMs) / drainMeter.wallMs, 0),
        engineCpuMsPerStep: round(drainMeter.cpuMs / steps, 3),
        simCpuPercent: round((100 * (sim1.cpuMs - sim0.cpuMs)) / drainMs, 0),
        machineCpuPercent: machineBusyPercent(cpu0, cpu1),
        loadAverageBefore: load0,
        statementsPerStep: perStep(drainMeter.statements.total),
        statementsPerStepByKind: Object.fromEntries(Object.entries(drainMeter.statements.byKind).slice(0, 14).map(([k, v]) => [k, perStep(v)])),
        statementMsByKind: Object.fromEntries(Object.entries(drainMeter.statements.msByKind).slice(0, 14)),
        commitsPerS: run.dialect === 'postgres' ? round((commits1 - commits0) / drainS, 0) : null,
        ended: ended.byStatus,
      };
      out.memory = {
        startRssMb: startMeter.peakRssMb,
        peakRssMb: Math.max(queueMeter.peakRssMb, drainMeter.peakRssMb),
        queuePeakRssMb: queueMeter.peakRssMb,
        drainPeakRssMb: drainMeter.peakRssMb,
        maxRssMb: drainMeter.maxRssMb,
      };
      run.log(`throughput: ${out.throughput.stepsPerS} steps/s, ${out.throughput.workflowsPerS} workflows/s, peak RSS ${out.memory.peakRssMb} MB`);
    }

    if (want.latency) {
      // The executor may not be running yet if throughput was skipped.
      await engine.child.call('startExecutor', null);
      // Latency is measured under load, but not in saturation: at a quarter of the rate the throughput
      // workload sustained (when it ran), at most latencyRate/s, for about 20 s.
      const capacity = out.throughput ? out.throughput.workflowsPerS : Number.POSITIVE_INFINITY;
      const rate = round(Math.max(0.5, Math.min(settings.latencyRate, capacity / 4)), 1);
      const m = Math.max(4, Math.min(settings.latencyWorkflows, Math.round(rate * 20)));
      run.log(`latency: ${m} workflows at ${rate}/s, callback ${settings.latencyCallbackDelayMs} ms after its siblings`);
      await run.sim.call('reset', null);
      await run.sim.call('configure', { callbackDelayMs: settings.latencyCallbackDelayMs, recordLatency: true });
      await engine.child.call('createPaced', { slug: SLUG, tenants: tenants('lat', m), perSecond: rate });
      started += m;
      await run.sim.call('waitFor', { route: 'notify', count: m, timeoutMs: 60_000 });
      await engine.child.call('waitTerminal', { count: started, pollMs: 5, timeoutMs: 30_000 });
      const lat = await run.sim.call('latency', null);

      run.log(`latency: ${settings.idleRuns} workflows one at a time on an idle engine`);
      await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
      const idle: number[] = [];
      const idleTenants = tenants('idle', settings.idleRuns);
      for (const tenant of idleTenants) {
        const r = await engine.child.call('runOne', { slug: SLUG, tenant, pollMs: 1, timeoutMs: 30_000 });
        if (r.status !== 'completed') throw new Error(`idle workflow ended ${r.status}`);
        idle.push(r.ms);
        await new Promise((res) => setTimeout(res, 20));
      }
      out.latency = {
        workflows: m,
        perSecond: rate,
        callbackToNextStep: summarize(lat.fromSent),
        callbackAnsweredToNextStep: summarize(lat.fromAnswered),
        excluded: lat.excluded,
        idleWorkflow: summarize(idle),
      };
      run.log(`latency: callback → next step p50 ${out.latency.callbackToNextStep.p50} ms p99 ${out.latency.callbackToNextStep.p99} ms; idle workflow p50 ${out.latency.idleWorkflow.p50} ms`);
    }
  } finally {
    await engine.stop().catch((e: unknown) => { engine.child.kill(); run.log(`engine stop failed: ${String(e)}`); });
    await db.drop();
  }
  return out;
}
