// What every workload gets: the dialect under test, the options, the simulated service, fresh databases,
// and a way to start Provisioner in its own process.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions } from '../options.js';
import type { BenchDialect, FreshDatabase } from '../support/databases.js';
import { forkChild, type RpcChild } from '../support/rpc.js';
import { freePort } from '../support/stats.js';
import type { SimApi } from '../sim-service.js';
import type { EngineApi } from '../engine-process.js';

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
  stop(): Promise<void>;
}

const ENGINE_SCRIPT = fileURLToPath(new URL('../engine-process.ts', import.meta.url));

/** Starts `provisioner serve` in its own process (executor held until startExecutor), on `databaseUrl`. */
export async function launchEngine(run: DialectRun, databaseUrl: string, opts: { profileAs?: string } = {}): Promise<Engine> {
  const port = await freePort();
  // One directory per engine: Node writes a profile per thread (tsx's loader hooks run in a thread of
  // their own), named CPU.<date>.<pid>.<thread>.<seq>.cpuprofile; the main thread's is the big one.
  const execArgv = opts.profileAs && run.options.cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${join(run.options.cpuProfDir, opts.profileAs)}`]
    : [];
  const child = await forkChild<EngineApi>(ENGINE_SCRIPT, { execArgv });
  const jwtSecret = randomBytes(24).toString('base64url');
  try {
    const info = await child.call('start', {
      databaseUrl, port, env: run.options.engineEnv, timeStatements: run.options.timeStatements, jwtSecret, secretKey: randomBytes(32).toString('base64'),
      dataDir: join(tmpdir(), 'prov-bench-data'),
    });
    return {
      child, url: info.url, jwtSecret,
      async stop() {
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
