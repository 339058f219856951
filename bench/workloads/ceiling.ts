// The database's own commit rate on this machine, measured in the same run, so that every engine figure
// can be read as a fraction of what the database alone could do.
//  - PostgreSQL: pgbench's built-in simple-update script (3 small writes and a select per transaction).
//  - SQLite: single-row INSERT transactions in a loop through better-sqlite3, with the engine's pragmas
//    (WAL, synchronous=NORMAL), on a fresh file.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { round } from '../support/stats.js';
import type { DialectRun } from './context.js';

const run = promisify(execFile);

export interface CeilingResult {
  /** Commits per second: the figure other results are compared with. */
  commitsPerS: number;
  method: string;
  /** PostgreSQL: the same script with a single client, i.e. one commit at a time. */
  singleClientCommitsPerS: number | null;
}

export async function runCeiling(r: DialectRun): Promise<CeilingResult> {
  const seconds = r.options.settings.ceilingDurationS;
  if (r.dialect === 'sqlite') return sqliteCeiling(r, seconds);
  return postgresCeiling(r, seconds);
}

async function sqliteCeiling(r: DialectRun, seconds: number): Promise<CeilingResult> {
  const fresh = await r.freshDatabase('ceiling');
  const db = new Database(fresh.name);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('create table ceiling (id integer primary key, at integer not null, note text not null)');
    const insert = db.prepare('insert into ceiling (at, note) values (?, ?)');
    let n = 0;
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    // Each run() outside a transaction is its own transaction: one commit per row.
    while (performance.now() < until) {
      for (let i = 0; i < 100; i++) insert.run(Date.now(), 'a short row, like an event');
      n += 100;
    }
    const rate = n / ((performance.now() - t0) / 1000);
    return {
      commitsPerS: round(rate, 0),
      method: 'better-sqlite3, one INSERT per transaction, WAL + synchronous=NORMAL',
      singleClientCommitsPerS: null,
    };
  } finally {
    db.close();
    await fresh.drop();
  }
}

async function postgresCeiling(r: DialectRun, seconds: number): Promise<CeilingResult> {
  const pgbench = findPgbench();
  const fresh = await r.freshDatabase('ceiling');
  try {
    const u = new URL(fresh.url);
    const conn = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
    const env = { ...process.env, ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}) };
    await run(pgbench, [...conn, '-i', '-q', '-s', '1', fresh.name], { env });
    const tps = async (clients: number) => {
      const { stdout } = await run(
        pgbench,
        [
          ...conn,
          '-n',
          '-b',
          'simple-update',
          '-c',
          String(clients),
          '-j',
          String(Math.min(clients, 2)),
          '-T',
          String(seconds),
          fresh.name,
        ],
        { env },
      );
      const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
      if (!m) throw new Error(`could not read tps from pgbench:\n${stdout}`);
      return Number(m[1]);
    };
    const clients = 8;
    const many = await tps(clients);
    const one = await tps(1);
    return {
      commitsPerS: round(many, 0),
      method: `pgbench -b simple-update -c ${clients} -j 2 -T ${seconds} (scale 1)`,
      singleClientCommitsPerS: round(one, 0),
    };
  } finally {
    await fresh.drop();
  }
}

function findPgbench(): string {
  for (const p of ['/usr/bin/pgbench', '/usr/lib/postgresql/15/bin/pgbench', '/usr/local/bin/pgbench']) if (existsSync(p)) return p;
  return 'pgbench'; // on PATH, or a clear ENOENT
}
