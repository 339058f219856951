// The peer on the same PostgreSQL and the same simulated service: N workflows queued as step_a jobs, then
// the runner starts and the clock runs until the last step_f has been answered and no job is left.
import { fileURLToPath } from 'node:url';
import { STEPS_PER_WORKFLOW } from '../manifest.js';
import { forkChild } from '../support/rpc.js';
import { loadAverage, machineBusyPercent, machineCpu, round } from '../support/stats.js';
import type { PeerApi } from '../peer-process.js';
import { tenants, type DialectRun } from './context.js';

export interface PeerResult {
  name: string;
  workflows: number;
  drainS: number;
  workflowsPerS: number;
  stepsPerS: number;
  peakRssMb: number;
  peerCpuPercent: number;
  machineCpuPercent: number;
  loadAverageBefore: number;
  failedJobs: number;
}

const PEER_SCRIPT = fileURLToPath(new URL('../peer-process.ts', import.meta.url));
const CONCURRENCY = 16; // Provisioner's default PROVISIONER_WORKER_CONCURRENCY

export async function runPeer(run: DialectRun): Promise<PeerResult> {
  const n = run.options.settings.throughputWorkflows;
  const db = await run.freshDatabase('peer');
  const peer = await forkChild<PeerApi>(PEER_SCRIPT);
  try {
    await peer.call('start', { databaseUrl: db.url, simUrl: run.simUrl, concurrency: CONCURRENCY });
    await run.sim.call('reset', null);
    await run.sim.call('configure', { callbackDelayMs: 0, recordLatency: false });
    run.log(`peer: queueing ${n} workflows on graphile-worker`);
    await peer.call('enqueue', { workflows: tenants('peer', n) });
    await peer.call('resetMeter', null);
    run.log(`peer: draining ${n} workflows`);
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
    const result: PeerResult = {
      name: 'graphile-worker 0.17.3 (defaults, concurrency 16, pool 20)',
      workflows: n,
      drainS: round(drainS, 2),
      workflowsPerS: round(n / drainS, 1),
      stepsPerS: round((n * STEPS_PER_WORKFLOW) / drainS, 0),
      peakRssMb: meter.peakRssMb,
      peerCpuPercent: round((100 * meter.cpuMs) / meter.wallMs, 0),
      machineCpuPercent: machineBusyPercent(cpu0, cpu1),
      loadAverageBefore: load0,
      failedJobs: meter.failedJobs,
    };
    run.log(`peer: ${result.stepsPerS} steps/s, ${result.workflowsPerS} workflows/s`);
    return result;
  } finally {
    await peer.call('stop', null).catch(() => peer.kill());
    await peer.exited();
    await db.drop();
  }
}
