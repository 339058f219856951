import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { TEST_JWT_SECRET, TEST_SECRET_KEY } from './runtime.js';

export interface Replica {
  port: number;
  url: string;
  proc: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A real `provisioner serve` process, as an operator would run one replica. */
export async function startReplica(databaseUrl: string, env: Record<string, string> = {}): Promise<Replica> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, ['bin/provisioner.js', 'serve'], {
    env: {
      ...process.env,
      CI: '',
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: url,
      PROVISIONER_JWT_SECRET: TEST_JWT_SECRET,
      PROVISIONER_SECRET_KEY: TEST_SECRET_KEY,
      PROVISIONER_POLL_INTERVAL_MS: '100',
      PROVISIONER_LEASE_GRACE_MS: '1000',
      PROVISIONER_DB_POOL_SIZE: '5',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += String(d);
  });
  proc.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`replica exited with ${proc.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`replica did not start in 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url,
    proc,
    output: () => out,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}
