// Throughput, memory and latency of Provisioner on one dialect, driven only through its HTTP API:
//  1. throughput: N workflows are started through the API on a replica with role `api` (no executor), which
//     then stops; `provisioner serve` (role `all`) starts on the same database and drains the backlog. The
//     simulated service records when each step's request arrives; steps/s is the rate between the arrival
//     of 10 % and of 90 % of all step requests (the steady state: the first 10 % hold start-up, JIT warm-up
//     and the ramp to full concurrency, the last 10 % the drain, when fewer steps are left than slots and
//     the last ones wait on callbacks and polls). Memory is the engine's RSS in both phases.
//  2. latency: a fresh database and engine; workflows started through the API at a fixed rate, the service
//     calling back 30 ms after the callback step's siblings were answered, so the callback completes the
//     join; the simulated service times callback → dependent step.
//  3. idle: one workflow at a time, start → completed, as a client polling the API sees it.
// The engine runs with its defaults, the callback rate limit included: callbacks it refuses (429) are
// counted by the service, which retries them as a real one would (Retry-After, a few attempts); a workflow
// whose callback was given up waits for its step's timeout, and the run reports it.
import { join } from 'node:path';
import { benchManifest, STEPS_PER_WORKFLOW } from '../manifest.js';
import { loadAverage, machineBusyPercent, machineCpu, round, summarize, type Summary } from '../support/stats.js';
import { postgresCommits } from '../support/databases.js';
import type { SimStats, SteadyState } from '../sim-service.js';
import { launchEngine, tenants, type DialectRun, type Engine } from './context.js';

export interface ThroughputResult {
  workflows: number;
  steps: number;
  /** Starting the N workflows through the API (POST /admin/provisioning/workflows, 16 in flight, no executor), for reference. */
  createPerS: number;
  /** Start of `provisioner serve` → the last workflow ended (or the run settled without it). */
  drainS: number;
  /** Workflows over drainS, warm-up and drain included. */
  workflowsPerS: number;
  /** Steady state: step requests per second between 10 % and 90 % of them (see the top of this file). */
  stepsPerS: number;
  /** Steady-state window and the whole run's rate, with step requests per second of the run. */
  steady: SteadyState;
  /** Workflows that did not complete: waiting on a callback the service gave up after 429s, or failed. */
  unfinished: number;
  /** Why the drain ended: every workflow's last step reached the service, or the run stalled / timed out. */
  settled: string;
  /** The service's view: callbacks sent, refused with 429, retried, given up. */
  callbacks: Pick<SimStats, 'callbacksSent' | 'callbacks429' | 'callbackRetries' | 'callbackFailures'>;
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
  /** Null when the engine ran none where the bench counts (bench/support/statement-meter.mjs: every thread started from a file). */
  statementsPerStep: number | null;
  /** The most frequent statement kinds, per completed step. */
  statementsPerStepByKind: Record<string, number>;
  /** SQLite with BENCH_STATEMENT_TIMES=1 only: ms spent executing (and preparing) statements by kind during the drain. */
  statementMsByKind: Record<string, number>;
  /** With profiles on: the second, smaller drain that ran under the profiler (its figures are not the measured ones). */
  profiledDrain?: { workflows: number; stepsPerS: number; engineCpuMsPerStep: number };
  /** PostgreSQL only: commits the server counted for the database, per second of the drain. */
  commitsPerS: number | null;
  /** Workflows by status at the end, read through the admin API. */
  ended: Record<string, number>;
}

export interface MemoryResult {
  /** The draining engine after start-up (API, executor, store), as it begins. */
  startRssMb: number;
  /**
   * Highest RSS of the engine (the queueing replica and the draining one) in the throughput workload: the
   * sampled peak or the kernel's high-water mark of either process (each does only this workload).
   */
  peakRssMb: number;
  queuePeakRssMb: number;
  drainPeakRssMb: number;
  /** getrusage high-water mark of the engine process over its whole life. */
  maxRssMb: number;
}

export interface LatencyResult {
  workflows: number;
  /** Workflows started per second through the API (fixed: the scale's latencyRate). */
  perSecond: number;
  /** Callback sent by the service → the dependent step's request reaches the service (ms). */
  callbackToNextStep: Summary;
  /** Callback answered 200 → the dependent step's request reaches the service (ms). */
  callbackAnsweredToNextStep: Summary;
  excluded: number;
  /** Callbacks refused with 429 during the paced run (the default rate limit), and given up. */
  callbacks429: number;
  callbackFailures: number;
  settled: string;
  /** The engine's CPU while the paced workflows ran (of one core), and per step: what a light load costs. */
  engineCpuPercent: number;
  engineCpuMsPerStep: number;
  /** One workflow on an idle engine: start → completed, as a client watching the database sees it (ms). */
  idleWorkflow: Summary;
}

export interface ProvisionerResults {
  throughput?: ThroughputResult;
  memory?: MemoryResult;
  latency?: LatencyResult;
}

const SLUG = 'bench';
/** Requests in flight while queueing the backlog through the API. */
const QUEUE_CONCURRENCY = 16;
/** The steady-state window: from the arrival of this share of all step requests … */
const STEADY_FROM = 0.1;
/** … to this one. */
const STEADY_TO = 0.9;
/** The drain ends early when no step request arrived for this long and no callback is left to deliver. */
const STALL_MS = 15_000;
/** The profiled drain: enough for a steady state, without doubling the run. */
const PROFILED_WORKFLOWS = 4000;

export async function runProvisionerWorkloads(
  run: DialectRun,
  want: { throughput: boolean; latency: boolean },
): Promise<ProvisionerResults> {
  const out: ProvisionerResults = {};
  if (want.throughput) Object.assign(out, await runThroughput(run));
  if (want.latency) out.latency = await runLatency(run);
  return out;
}

async function withEngine<T>(
  run: DialectRun,
  url: string,
  opts: { role: 'all' | 'api'; profileAs?: string },
  fn: (e: Engine) => Promise<T>,
): Promise<T> {
  const engine = await launchEngine(run, url, opts);
  try {
    return await fn(engine);
  } finally {
    await engine.stop().catch((e: unknown) => {
      engine.child.kill();
      run.log(`engine stop failed: ${String(e)}`);
    });
  }
}

async function waitIdle(engine: Engine, timeoutMs: number): Promise<boolean> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await engine.api.idle()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * The measured drain runs without the profiler (it cost SQLite a quarter of its throughput); with profiles
 * on, a second, smaller drain in the same run is profiled, and its rate is reported beside the measured one.
 */
async function runThroughput(run: DialectRun): Promise<{ throughput: ThroughputResult; memory: MemoryResult }> {
  const n = run.options.settings.throughputWorkflows;
  const measured = await drainBacklog(run, n, null);
  const dir = run.options.cpuProfDir;
  if (dir) {
    const m = Math.min(n, PROFILED_WORKFLOWS);
    run.log(`throughput: a second drain of ${m} workflows, under the profiler`);
    const profiled = await drainBacklog(run, m, join(dir, `throughput-${run.dialect}.cpuprofile`));
    measured.throughput.profiledDrain = {
      workflows: m,
      stepsPerS: profiled.throughput.stepsPerS,
      engineCpuMsPerStep: profiled.throughput.engineCpuMsPerStep,
    };
  }
  return measured;
}

async function drainBacklog(
  run: DialectRun,
  n: number,
  profile: string | null,
): Promise<{ throughput: ThroughputResult; memory: MemoryResult }> {
  const steps = n * STEPS_PER_WORKFLOW;
  const db = await run.freshDatabase('engine');
  try {
    run.log(`throughput: starting ${n} workflows through the API (role api: no executor)`);
    const queued = await withEngine(run, db.url, { role: 'api' }, async (engine) => {
      await engine.api.registerManifest(benchManifest(SLUG, run.simUrl));
      await engine.child.call('resetMeter', null);
      const ms = await engine.api.startMany(SLUG, tenants('tp', n), QUEUE_CONCURRENCY);
      return { ms, meter: await engine.child.call('meter', null) };
    });

    run.log(`throughput: provisioner serve drains ${n} workflows (${steps} steps)`);
    await run.sim.call('reset', null);
    await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
    const commits0 = run.dialect === 'postgres' ? await postgresCommits(run.options.postgresUrl, db.name) : 0;
    const load0 = loadAverage();
    const cpu0 = machineCpu();
    const sim0 = await run.sim.call('stats', null);
    const t0 = performance.now();
    return await withEngine(
      run,
      db.url,
      { role: 'all', profileAs: profile && run.options.cpuProfWholeProcess ? `engine-${run.dialect}` : undefined },
      async (engine) => {
        await engine.child.call('resetMeter', null);
        const startMeter = await engine.child.call('meter', null);
        if (profile) await engine.child.call('profileStart', null);
        const settled = await run.sim.call('waitSettled', {
          route: 'notify',
          count: n,
          stallMs: STALL_MS,
          timeoutMs: Math.max(300_000, n * 100),
        });
        if (!settled.reached) run.log(`throughput: the drain ended early: ${settled.why}`);
        if (settled.reached && !(await waitIdle(engine, 60_000)))
          run.log('throughput: workflows still active 60 s after the last step request');
        const drainMs = performance.now() - t0;
        const cpu1 = machineCpu();
        // Metered before the profile is written: serialising it would show in the peak RSS.
        const drainMeter = await engine.child.call('meter', null);
        if (profile) {
          await engine.child.call('profileStop', { file: profile });
          run.log(`throughput: drain profile in ${profile}`);
        }
        const sim1 = await run.sim.call('stats', null);
        const commits1 = run.dialect === 'postgres' ? await postgresCommits(run.options.postgresUrl, db.name) : 0;
        const steady = await run.sim.call('steady', { expected: steps, from: STEADY_FROM, to: STEADY_TO });
        const ended = await engine.api.countByStatus();
        const drainS = drainMs / 1000;
        const perStep = (v: number) => round(v / Math.max(1, steady.received), 2); // per step that ran (all of them unless the run stalled)
        const throughput: ThroughputResult = {
          workflows: n,
          steps,
          createPerS: round(n / (queued.ms / 1000), 0),
          drainS: round(drainS, 2),
          workflowsPerS: round((ended.completed ?? 0) / drainS, 1),
          stepsPerS: steady.stepsPerS,
          steady,
          unfinished: n - (ended.completed ?? 0),
          settled: settled.why,
          callbacks: {
            callbacksSent: sim1.callbacksSent,
            callbacks429: sim1.callbacks429,
            callbackRetries: sim1.callbackRetries,
            callbackFailures: sim1.callbackFailures,
          },
          engineCpuPercent: round((100 * drainMeter.cpuMs) / drainMeter.wallMs, 0),
          engineCpuMsPerStep: round(drainMeter.cpuMs / Math.max(1, steady.received), 3),
          simCpuPercent: round((100 * (sim1.cpuMs - sim0.cpuMs)) / drainMs, 0),
          machineCpuPercent: machineBusyPercent(cpu0, cpu1),
          loadAverageBefore: load0,
          statementsPerStep: drainMeter.statements.total > 0 ? perStep(drainMeter.statements.total) : null,
          statementsPerStepByKind: Object.fromEntries(
            Object.entries(drainMeter.statements.byKind)
              .slice(0, 14)
              .map(([k, v]) => [k, perStep(v)]),
          ),
          statementMsByKind: Object.fromEntries(Object.entries(drainMeter.statements.msByKind).slice(0, 14)),
          commitsPerS: run.dialect === 'postgres' ? round((commits1 - commits0) / drainS, 0) : null,
          ended,
        };
        const memory: MemoryResult = {
          startRssMb: startMeter.peakRssMb,
          peakRssMb: Math.max(queued.meter.peakRssMb, drainMeter.peakRssMb, queued.meter.maxRssMb, drainMeter.maxRssMb),
          queuePeakRssMb: queued.meter.peakRssMb,
          drainPeakRssMb: drainMeter.peakRssMb,
          maxRssMb: Math.max(queued.meter.maxRssMb, drainMeter.maxRssMb),
        };
        run.log(
          `throughput: ${throughput.stepsPerS} steps/s steady (${steady.fromS}-${steady.toS} s of ${throughput.drainS} s), ${throughput.unfinished} unfinished, ` +
            `${sim1.callbacks429} callbacks refused with 429, peak RSS ${memory.peakRssMb} MB`,
        );
        return { throughput, memory };
      },
    );
  } finally {
    await db.drop();
  }
}

async function runLatency(run: DialectRun): Promise<LatencyResult> {
  const { settings } = run.options;
  const db = await run.freshDatabase('latency');
  try {
    return await withEngine(run, db.url, { role: 'all' }, async (engine) => {
      await engine.api.registerManifest(benchManifest(SLUG, run.simUrl));
      const rate = settings.latencyRate;
      const m = settings.latencyWorkflows;
      run.log(
        `latency: ${m} workflows started through the API at ${rate}/s, callback ${settings.latencyCallbackDelayMs} ms after its siblings`,
      );
      await run.sim.call('reset', null);
      await run.sim.call('configure', { callbackDelayMs: settings.latencyCallbackDelayMs, recordLatency: true });
      await engine.child.call('resetMeter', null);
      await engine.api.startPaced(SLUG, tenants('lat', m), rate);
      const settled = await run.sim.call('waitSettled', {
        route: 'notify',
        count: m,
        stallMs: STALL_MS,
        timeoutMs: Math.max(120_000, m * 500),
      });
      const pacedMeter = await engine.child.call('meter', null);
      if (!settled.reached) run.log(`latency: ended early: ${settled.why}`);
      else await waitIdle(engine, 30_000);
      const lat = await run.sim.call('latency', null);
      const stats = await run.sim.call('stats', null);

      run.log(`latency: ${settings.idleRuns} workflows one at a time on an idle engine`);
      await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
      const idle: number[] = [];
      for (const tenant of tenants('idle', settings.idleRuns)) {
        const notified = (await run.sim.call('stats', null)).counts.notify;
        const t0 = performance.now();
        const id = await engine.api.start(SLUG, tenant);
        // Polling the API only once the last step's request has reached the service keeps the polls from
        // competing with the workflow they watch.
        await run.sim.call('waitFor', { route: 'notify', count: notified + 1, timeoutMs: 30_000 });
        for (;;) {
          const status = await engine.api.status(id);
          if (status === 'completed') break;
          if (!['pending', 'running'].includes(status)) throw new Error(`idle workflow ${id} ended ${status}`);
          if (performance.now() - t0 > 30_000) throw new Error(`idle workflow ${id} did not complete within 30 s (${status})`);
          await new Promise((r) => setTimeout(r, 2));
        }
        idle.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      const profile = run.options.cpuProfDir ? join(run.options.cpuProfDir, `latency-${run.dialect}.cpuprofile`) : null;
      if (profile) await profilePacedRun(run, engine, profile);
      const result: LatencyResult = {
        workflows: m,
        perSecond: rate,
        callbackToNextStep: summarize(lat.fromSent),
        callbackAnsweredToNextStep: summarize(lat.fromAnswered),
        excluded: lat.excluded,
        callbacks429: stats.callbacks429,
        callbackFailures: stats.callbackFailures,
        settled: settled.why,
        engineCpuPercent: round((100 * pacedMeter.cpuMs) / pacedMeter.wallMs, 0),
        engineCpuMsPerStep: round(pacedMeter.cpuMs / (m * STEPS_PER_WORKFLOW), 2),
        idleWorkflow: summarize(idle),
      };
      run.log(
        `latency: callback → next step p50 ${result.callbackToNextStep.p50} ms p99 ${result.callbackToNextStep.p99} ms (${stats.callbacks429} refused with 429); idle workflow p50 ${result.idleWorkflow.p50} ms`,
      );
      return result;
    });
  } finally {
    await db.drop();
  }
}

/** The same paced run again, half as long, under the profiler: what the engine spends its time on at that rate. */
async function profilePacedRun(run: DialectRun, engine: Engine, file: string): Promise<void> {
  const { settings } = run.options;
  const m = Math.ceil(settings.latencyWorkflows / 2);
  run.log(`latency: ${m} more workflows at ${settings.latencyRate}/s, under the profiler`);
  await run.sim.call('reset', null);
  await run.sim.call('configure', { callbackDelayMs: settings.latencyCallbackDelayMs, recordLatency: false });
  await engine.child.call('profileStart', null);
  await engine.api.startPaced(SLUG, tenants('latprof', m), settings.latencyRate);
  const settled = await run.sim.call('waitSettled', {
    route: 'notify',
    count: m,
    stallMs: STALL_MS,
    timeoutMs: Math.max(120_000, m * 500),
  });
  await engine.child.call('profileStop', { file });
  run.log(`latency: engine profile in ${file}${settled.reached ? '' : ` (ended early: ${settled.why})`}`);
}
