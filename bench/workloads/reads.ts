// Tenant reads under concurrent load, with many workflows stored: `status`, `list` and `detail` through a
// real listening server (autocannon in this process, the server in its own), each request from a random
// tenant with its own token, so caches see a realistic spread rather than one hot row.
import { join } from 'node:path';
import autocannon from 'autocannon';
import { signToken } from '../../src/auth/token-signer.js';
import { benchManifest, STEPS_PER_WORKFLOW } from '../manifest.js';
import { loadAverage, round, summarize, type Summary } from '../support/stats.js';
import { launchEngine, type DialectRun } from './context.js';
import { cachedDatabase, readsCacheKey } from '../support/databases.js';
import { seedWorkflows, seededService, seededTenant, seededWorkflowId, type SeedShape } from './seed.js';

export const READ_ENDPOINTS = ['status', 'list', 'detail'] as const;
export type ReadEndpoint = (typeof READ_ENDPOINTS)[number];

export interface ReadFigures {
  path: string;
  /** From raw per-request times (float ms), not autocannon's 1 ms histogram buckets. */
  latency: Summary;
  requestsPerS: number;
  non2xx: number;
  errors: number;
  requests: number;
}

export interface ReadsResult {
  workflows: number;
  steps: number;
  tenants: number;
  connections: number;
  durationS: number;
  seedS: number;
  /** The rows came from a database seeded by an earlier run (BENCH_READS_CACHE=1). */
  seedReused: boolean;
  loadAverageBefore: number;
  endpoints: Record<ReadEndpoint, ReadFigures>;
  serverPeakRssMb: number;
  serverCpuPercent: number;
  /** Server CPU time per answered request, over the three loads (warm-ups included). */
  serverCpuMsPerRequest: number;
  /** SQL statements per request over all three loads, by kind. */
  statementsPerRequest: Record<string, number>;
}

/** Distinct request targets, cycled through by every connection. */
const SAMPLES = 2000;
/** Seconds of each endpoint profiled after the measurement. */
const PROFILED_S = 4;

export async function runReads(run: DialectRun): Promise<ReadsResult> {
  const { settings } = run.options;
  const shape: SeedShape = { workflows: settings.readsWorkflows, tenants: settings.readsTenants, services: settings.readsServices };
  const cache = run.options.readsCache ? await cachedDatabase(run.dialect, run.options.postgresUrl, readsCacheKey(shape)) : null;
  const db = cache ? cache.db : await run.freshDatabase('reads');
  try {
    // The engine (`provisioner serve`, executor included: it finds nothing due) creates the schema and
    // registers the services through the API; the rows then go in with SQL beside it.
    const engine = await launchEngine(run, db.url);
    try {
      let seeded = { seconds: 0, reused: false };
      if (cache?.ready) {
        run.log(`reads: reusing the seeded database ${db.name} (BENCH_READS_CACHE)`);
        seeded = { seconds: 0, reused: true };
      } else {
        for (let s = 0; s < shape.services; s++) await engine.api.registerManifest(benchManifest(seededService(s), run.simUrl));
        run.log(`reads: seeding ${shape.workflows} workflows (${shape.workflows * STEPS_PER_WORKFLOW} steps) with SQL`);
        seeded = { ...(await seedWorkflows(run.dialect, db.url, shape, (l) => run.log(`reads: ${l}`))), reused: false };
        await cache?.markReady();
        run.log(`reads: seeded in ${round(seeded.seconds, 1)} s${cache ? ', kept for later runs' : ''}`);
      }
      const samples = await requestSamples(engine.jwtSecret, shape);
      await engine.child.call('resetMeter', null);
      const load0 = loadAverage();
      const endpoints = {} as Record<ReadEndpoint, ReadFigures>;
      let warmupRequests = 0;
      for (const endpoint of READ_ENDPOINTS) {
        if (settings.readsWarmupS > 0)
          warmupRequests += (await load(engine.url, samples, endpoint, settings.readsConnections, settings.readsWarmupS)).requests;
        endpoints[endpoint] = await load(engine.url, samples, endpoint, settings.readsConnections, settings.readsDurationS);
        run.log(
          `reads: ${endpoint} p50 ${endpoints[endpoint].latency.p50} ms p99 ${endpoints[endpoint].latency.p99} ms, ${endpoints[endpoint].requestsPerS} req/s`,
        );
      }
      const meter = await engine.child.call('meter', null);
      const served = Object.values(endpoints).reduce((n, f) => n + f.requests, warmupRequests);
      // Profiled after the measurement, not during it: a few more seconds of each endpoint.
      const profile = run.options.cpuProfDir ? join(run.options.cpuProfDir, `reads-${run.dialect}.cpuprofile`) : null;
      if (profile) {
        await engine.child.call('profileStart', null);
        for (const endpoint of READ_ENDPOINTS)
          await load(engine.url, samples, endpoint, settings.readsConnections, Math.min(settings.readsDurationS, PROFILED_S));
        await engine.child.call('profileStop', { file: profile });
        run.log(`reads: server profile in ${profile}`);
      }
      return {
        workflows: shape.workflows,
        steps: shape.workflows * STEPS_PER_WORKFLOW,
        tenants: shape.tenants,
        connections: settings.readsConnections,
        durationS: settings.readsDurationS,
        seedS: round(seeded.seconds, 1),
        seedReused: seeded.reused,
        loadAverageBefore: load0,
        endpoints,
        serverPeakRssMb: meter.peakRssMb,
        serverCpuPercent: round((100 * meter.cpuMs) / meter.wallMs, 0),
        serverCpuMsPerRequest: round(meter.cpuMs / Math.max(1, served), 3),
        statementsPerRequest: perRequest(meter.statements.byKind, served),
      };
    } finally {
      await engine.stop();
    }
  } finally {
    await db.drop();
  }
}

function perRequest(byKind: Record<string, number>, requests: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(byKind)
      .slice(0, 10)
      .map(([k, n]) => [k, round(n / Math.max(1, requests), 2)]),
  );
}

interface Sample {
  token: string;
  status: string;
  list: string;
  detail: string;
}

async function requestSamples(secret: string, shape: SeedShape): Promise<Sample[]> {
  const perTenant = Math.floor(shape.workflows / shape.tenants);
  const tokens = new Map<number, string>();
  const out: Sample[] = [];
  // A fixed-seed generator: the same run picks the same tenants.
  let x = 0x9e3779b9;
  const rnd = (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  for (let i = 0; i < SAMPLES; i++) {
    const t = rnd(shape.tenants);
    let token = tokens.get(t);
    if (!token) tokens.set(t, (token = await signToken(secret, { sub: `user-${t}`, tenant_id: seededTenant(t) }, '2h')));
    const g = t + rnd(perTenant) * shape.tenants;
    out.push({
      token,
      status: `/api/v1/provisioning/status/${seededService(rnd(shape.services))}`,
      list: '/api/v1/provisioning/workflows',
      detail: `/api/v1/provisioning/workflows/${seededWorkflowId(g)}`,
    });
  }
  return out;
}

async function load(url: string, samples: Sample[], endpoint: ReadEndpoint, connections: number, durationS: number): Promise<ReadFigures> {
  let i = 0;
  const times: number[] = [];
  const instance = autocannon({
    url,
    connections,
    duration: durationS,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const s = samples[i++ % samples.length] as Sample;
          return { ...req, path: s[endpoint], headers: { authorization: `Bearer ${s.token}` } };
        },
      },
    ],
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, ms: number) => {
    if (statusCode < 300) times.push(ms);
  });
  const r = await instance;
  return {
    path:
      endpoint === 'detail'
        ? '/api/v1/provisioning/workflows/{id}'
        : endpoint === 'status'
          ? '/api/v1/provisioning/status/{slug}'
          : (samples[0]?.list ?? ''),
    latency: summarize(times),
    requestsPerS: round(r.requests.total / r.duration, 0),
    non2xx: r.non2xx,
    errors: r.errors,
    requests: r.requests.total,
  };
}
