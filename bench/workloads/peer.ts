// The peer on the same PostgreSQL and the same simulated service, twice in a run: graphile-worker with its
// defaults, and tuned as its performance page advises (bench/peer-process.ts). N workflows are queued as
// step_a jobs, then the runner starts and the clock runs until the last step_f has been answered and no job
// is left. steps/s is measured as Provisioner's is: the step requests' rate at the service between 10 % and
// 90 % of them (polls left out).
import { fileURLToPath } from 'node:url';
import { STEPS_PER_WORKFLOW } from '../manifest.js';
import { forkChild } from '../support/rpc.js';
import { loadAverage, machineBusyPercent, machineCpu, round } from '../support/stats.js';
import type { PeerApi, PeerSetup } from '../peer-process.js';
import type { SteadyState } from '../sim-service.js';
import { tenants, type DialectRun } from './context.js';

export interface PeerResult {
  name: string;
  setup: PeerSetup;
  workflows: number;
  drainS: number;
  workflowsPerS: number;
  /** Steady state, as for Provisioner. */
  stepsPerS: number;
  steady: SteadyState;
  peakRssMb: number;
  peerCpuPercent: number;
  machineCpuPercent: number;
  loadAverageBefore: number;
  failedJobs: number;
}

export type PeerVariant = 'default' | 'tuned';
export interface PeerResults {
  default?: PeerResult | { error: string };
  tuned?: PeerResult | { error: string };
}

const PEER_SCRIPT = fileURLToPath(new URL('../peer-process.ts', import.meta.url));

export const PEER_SETUPS: Record<PeerVariant, { name: string; setup: PeerSetup }> = {
  // Provisioner's default PROVISIONER_WORKER_CONCURRENCY; the pool graphile-worker asks for at start.
  default: { name: 'graphile-worker 0.17.3, defaults (concurrency 16, pool 20)', setup: { concurrency: 16, maxPoolSize: 20 } },
  tuned: {
    name: 'graphile-worker 0.17.3, tuned (concurrency 64, pool 66, localQueue.size 64, completeJobBatchDelay 0, failJobBatchDelay 0)',
    setup: { concurrency: 64, maxPoolSize: 66, localQueueSize: 64, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
  },
};

export async function runPeers(run: DialectRun): Promise<PeerResults> {
  const out: PeerResults = {};
  for (const variant of ['default', 'tuned'] as const) {
    try {
      out[variant] = await runPeer(run, variant);
    } catch (e) {
      run.log(`peer ${variant} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      out[variant] = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
  }
  return out;
}

async function runPeer(run: DialectRun, variant: PeerVariant): Promise<PeerResult> {
  const n = run.options.settings.throughputWorkflows;
  const { name, setup } = PEER_SETUPS[variant];
  const db = await run.freshDatabase(`peer_${variant}`);
  const peer = await forkChild<PeerApi>(PEER_SCRIPT);
  try {
    await peer.call('start', { databaseUrl: db.url, simUrl: run.simUrl, setup });
    await run.sim.call('reset', null);
    await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
    run.log(`peer (${variant}): queueing ${n} workflows on graphile-worker`);
    await peer.call('enqueue', { workflows: tenants('peer', n) });
    await peer.call('resetMeter', null);
    run.log(`peer (${variant}): draining ${n} workflows`);
    const load0 = loadAverage();
    const cpu0 = machineCpu();
    const t0 = performance.now();
    await peer.call('startRunner', null);
    await peer.call('waitDone', { count: n, timeoutMs: Math.max(120_000, n * 250) });
    await run.sim.call('waitFor', { route: 'notify', count: n, timeoutMs: 5_000 });
    await peer.call('waitIdle', { pollMs: 5, timeoutMs: 60_000 });
    const drainS = (performance.now() - t0) / 1000;
    const cpu1 = machineCpu();
    const meter = await peer.call('meter', null);
    const steady = await run.sim.call('steady', { expected: n * STEPS_PER_WORKFLOW, from: 0.1, to: 0.9 });
    const result: PeerResult = {
      name,
      setup,
      workflows: n,
      drainS: round(drainS, 2),
      workflowsPerS: round(n / drainS, 1),
      stepsPerS: steady.stepsPerS,
      steady,
      peakRssMb: meter.peakRssMb,
      peerCpuPercent: round((100 * meter.cpuMs) / meter.wallMs, 0),
      machineCpuPercent: machineBusyPercent(cpu0, cpu1),
      loadAverageBefore: load0,
      failedJobs: meter.failedJobs,
    };
    run.log(`peer (${variant}): ${result.stepsPerS} steps/s steady, ${result.workflowsPerS} workflows/s overall`);
    return result;
  } finally {
    await peer.call('stop', null).catch(() => peer.kill());
    await peer.exited();
    await db.drop();
  }
}
