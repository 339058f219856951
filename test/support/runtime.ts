import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config, type Env } from '../../src/config.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { createLogger } from '../../src/runtime.js';

export type TestDialect = 'sqlite' | 'postgres';

/** Dialects the suite runs on: SQLite always; PostgreSQL when TEST_DATABASE_URL is set (CI sets it and fails if unreachable). */
export function testDialects(): TestDialect[] {
  if (process.env.TEST_DATABASE_URL) return ['sqlite', 'postgres'];
  if (process.env.CI) throw new Error('CI must run the PostgreSQL tests: set TEST_DATABASE_URL (.ci/run does)');
  return ['sqlite'];
}

/** A fresh database per call: a temp SQLite file, or a new PostgreSQL database created from TEST_DATABASE_URL. */
export async function freshDatabaseUrl(dialect: TestDialect): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'prov-test-'));
    return { url: `sqlite:${join(dir, 'test.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env.TEST_DATABASE_URL as string;
  const name = `prov_t_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await d.end();
    },
  };
}

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789';
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

export function testConfig(databaseUrl: string, extra: Env = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    PROVISIONER_JWT_SECRET: TEST_JWT_SECRET,
    PROVISIONER_SECRET_KEY: TEST_SECRET_KEY,
    PROVISIONER_DATA_DIR: join(tmpdir(), 'prov-test-data'),
    PROVISIONER_POLL_INTERVAL_MS: '50',
    PROVISIONER_LEASE_GRACE_MS: '300',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    ...extra,
  });
}

export interface TestRuntime extends Runtime {
  dispose(): Promise<void>;
}

export async function startTestRuntime(dialect: TestDialect, env: Env = {}, opts: RuntimeOptions = {}): Promise<TestRuntime> {
  const db = await freshDatabaseUrl(dialect);
  const config = testConfig(db.url, env);
  const rt = await createRuntime(config, { log: createLogger(config.logLevel), ...opts });
  rt.executor?.start();
  rt.webhooks?.start();
  if (rt.executor) rt.intake.start();
  return Object.assign(rt, {
    async dispose() {
      await rt.close(200);
      await db.drop();
    },
  });
}

/** Polls until `check` returns a value (or throws on timeout, naming what it waited for). */
export async function eventually<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
