// Fresh databases for each run: a temp SQLite file, or a PostgreSQL database created for the run and
// dropped after it. Nothing the bench does touches an existing database.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { benchSecretKey } from './secrets.js';

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

/**
 * A database kept between runs for the reads workload (BENCH_READS_CACHE=1): seeding 1,000,000 workflows
 * takes about 90 s per database, so it is done once and reused. The key covers everything that shapes its
 * rows: the seed's shape and code, the bench manifest and the list of migrations; when any changes, the
 * old copy is deleted and a new one seeded. SQLite: bench/tmp/reads-cache/reads-<key>.db; PostgreSQL: the
 * database prov_bench_reads_<key>. `ready` is false until `markReady` was called after a complete seed.
 */
export interface CachedDatabase {
  db: FreshDatabase;
  ready: boolean;
  markReady(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const READS_CACHE_DIR = join(ROOT, 'bench/tmp/reads-cache');

export function readsCacheKey(shape: object): string {
  const h = createHash('sha256').update(JSON.stringify(shape));
  for (const f of ['bench/workloads/seed.ts', 'bench/manifest.ts']) h.update(readFileSync(join(ROOT, f)));
  h.update(readdirSync(join(ROOT, 'src/store/migrations')).sort().join(','));
  // Sealed with the bench's key: a new key (bench/tmp/secret-key removed) needs a new seed.
  h.update(benchSecretKey());
  return h.digest('hex').slice(0, 12);
}

export async function cachedDatabase(dialect: BenchDialect, adminUrl: string, key: string): Promise<CachedDatabase> {
  const noDrop = async () => undefined;
  if (dialect === 'sqlite') {
    mkdirSync(READS_CACHE_DIR, { recursive: true });
    const file = join(READS_CACHE_DIR, `reads-${key}.db`);
    const marker = join(READS_CACHE_DIR, `reads-${key}.ready`);
    const ready = existsSync(marker) && existsSync(file);
    if (!ready) for (const f of readdirSync(READS_CACHE_DIR)) rmSync(join(READS_CACHE_DIR, f), { force: true }); // stale keys and partial seeds
    return {
      db: { url: `sqlite:${file}`, name: file, drop: noDrop },
      ready,
      markReady: async () => writeFileSync(marker, `${new Date().toISOString()}\n`),
    };
  }
  const name = `prov_bench_reads_${key}`;
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const existing = await withClient(adminUrl, async (c) =>
    (await c.query<{ datname: string }>("select datname from pg_database where datname like 'prov_bench_reads_%'")).rows.map(
      (r) => r.datname,
    ),
  );
  let ready = false;
  if (existing.includes(name))
    ready = await withClient(
      url,
      async (c) => (await c.query<{ t: string | null }>("select to_regclass('bench_reads_seeded')::text as t")).rows[0]?.t != null,
    );
  if (!ready) {
    await withClient(adminUrl, async (c) => {
      for (const d of existing) await c.query(`drop database if exists ${d} with (force)`);
      await c.query(`create database ${name}`);
    });
  }
  return {
    db: { url, name, drop: noDrop },
    ready,
    markReady: () =>
      withClient(url, (c) => c.query('create table bench_reads_seeded (at timestamptz default now())')).then(() => undefined),
  };
}
