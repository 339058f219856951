// Fresh databases for each run: a temp SQLite file, or a PostgreSQL database created for the run and
// dropped after it. Nothing the bench does touches an existing database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type BenchDialect = 'sqlite' | 'postgres';

export interface FreshDatabase {
  url: string;
  /** The SQLite file, or the PostgreSQL database name. */
  name: string;
  drop(): Promise<void>;
}

export const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

export function freshSqlite(label: string): FreshDatabase {
  const dir = mkdtempSync(join(tmpdir(), `prov-bench-${label}-`));
  const file = join(dir, 'bench.db');
  return { url: `sqlite:${file}`, name: file, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export async function freshPostgres(adminUrl: string, label: string): Promise<FreshDatabase> {
  const name = `prov_bench_${label}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`create database ${name}`));
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => withClient(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

/** True when a PostgreSQL server answers at `url` within a couple of seconds. */
export async function postgresReachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Commits the server has counted for one database (pg_stat_database), to turn a run into commits/s. */
export async function postgresCommits(adminUrl: string, database: string): Promise<number> {
  return withClient(adminUrl, async (c) => {
    // The statistics collector is read through a snapshot per transaction; clear it to see fresh counts.
    await c.query('select pg_stat_clear_snapshot()');
    const r = await c.query<{ n: string }>('select xact_commit::text as n from pg_stat_database where datname = $1', [database]);
    return Number(r.rows[0]?.n ?? 0);
  });
}
