// What every workload gets: the dialect under test, the options, the simulated service, fresh databases,
// and a way to start Provisioner in its own process.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from '../options.js';
import type { BenchDialect, FreshDatabase } from '../support/databases.js';
import { forkChild, type RpcChild } from '../support/rpc.js';
import { freePort } from '../support/stats.js';
import type { SimApi } from '../sim-service.js';
import type { EngineApi } from '../engine-process.js';
import { connectApi, type BenchApi } from '../support/api.js';
import { compiledEngine } from '../support/engine-build.js';
import { benchSecretKey } from '../support/secrets.js';

export interface DialectRun {
  dialect: BenchDialect;
  options: BenchOptions;
  sim: RpcChild<SimApi>;
  simUrl: string;
  freshDatabase(label: string): Promise<FreshDatabase>;
  log(line: string): void;
}

export interface Engine {
  child: RpcChild<EngineApi>;
  url: string;
  jwtSecret: string;
  /** The engine's HTTP API with an operator token. */
  api: BenchApi;
  stop(): Promise<void>;
}

// One JWT secret per bench run; the secret key is kept across runs (bench/support/secrets.ts), so every
// launch on a database, a kept reads database included, reads what an earlier one stored.
const SECRET_KEY = benchSecretKey();
const JWT_SECRET = randomBytes(24).toString('base64url');

const STATEMENT_METER = new URL('../support/statement-meter.mjs', import.meta.url).href;

/**
 * Starts `provisioner serve` in its own process on `databaseUrl`: role `all` (API + executor, the default)
 * or `api` (no executor, to queue a backlog). Each launch gets a secret of its own; the database keeps what
 * an earlier launch stored.
 */
export async function launchEngine(
  run: DialectRun,
  databaseUrl: string,
  opts: { role?: 'all' | 'api'; profileAs?: string; jwtSecret?: string } = {},
): Promise<Engine> {
  const port = await freePort();
  // One directory per engine: Node writes a profile per thread (tsx's loader hooks run in a thread of
  // their own), named CPU.<date>.<pid>.<thread>.<seq>.cpuprofile; the main thread's is the big one.
  const execArgv = [
    // Counts SQL statements in every thread of the engine (bench/support/statement-meter.mjs).
    '--import',
    STATEMENT_METER,
    ...(opts.profileAs && run.options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(run.options.cpuProfDir, opts.profileAs)}`] : []),
  ];
  const child = await forkChild<EngineApi>(await compiledEngine(), { execArgv, compiled: true });
  const jwtSecret = opts.jwtSecret ?? JWT_SECRET;
  try {
    const info = await child.call('start', {
      databaseUrl,
      port,
      role: opts.role ?? 'all',
      env: run.options.engineEnv,
      timeStatements: run.options.timeStatements,
      jwtSecret,
      secretKey: SECRET_KEY,
      dataDir: join(tmpdir(), 'prov-bench-data'),
    });
    const api = await connectApi(info.url, jwtSecret);
    return {
      child,
      url: info.url,
      jwtSecret,
      api,
      async stop() {
        api.close();
        await child.call('stop', null);
        await child.exited();
      },
    };
  } catch (e) {
    child.kill();
    throw e;
  }
}

/** Tenant ids for `n` workflows: one tenant each, since a tenant holds one active workflow per service. */
export function tenants(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);
}
