// Plain JavaScript (types in statement-meter.d.mts): as a preload it also runs in worker threads, where
// tsx's loader may not be in place before it.
//
// Counts the engine's SQL statements by kind, wherever they run: loaded with `--import` into the engine's
// process (bench/workloads/context.ts), so it is also preloaded into every worker thread the engine starts
// from a file (Node runs --import in each). It wraps the drivers' prototypes:
//  - SQLite: statements are counted (and optionally timed) where they run (Statement#run/all/get/iterate),
//    whether or not the store reuses prepared statements; prepares are timed apart.
//  - PostgreSQL: Client#query, every query (pg_stat_statements is not preloaded on a default server).
// A worker thread sends its counts to the main thread over a BroadcastChannel every 100 ms; the main
// thread's totals (statementsSnapshot) include them.
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';

// State per thread: { total, byKind: Map, ms: Map (SQLite only: time inside the driver's prepare and
// execute calls per kind), time: whether to time }. Messages: counts, config, hello.

// One state per thread, even if this file is loaded under two URLs (preload and import).
const KEY = Symbol.for('provisioner.bench.statement-meter');
const state = globalThis[KEY] ?? (globalThis[KEY] = install());

const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);

function install() {
  const s = { total: 0, byKind: new Map(), ms: new Map(), time: false };
  const count = (kind) => {
    s.total++;
    add(s.byKind, kind, 1);
  };

  const kindOfStatement = new WeakMap();
  const sqliteProto = Database.prototype;
  const prepare = sqliteProto.prepare;
  let statementWrapped = false;
  sqliteProto.prepare = function (sqlText) {
    const t0 = performance.now();
    const stmt = prepare.call(this, sqlText);
    if (s.time) add(s.ms, `prepare: ${statementKind(sqlText)}`, performance.now() - t0);
    if (!statementWrapped) {
      statementWrapped = true;
      const proto = Object.getPrototypeOf(stmt);
      for (const m of ['run', 'all', 'get', 'iterate']) {
        const original = proto[m];
        proto[m] = function (...args) {
          // By statement, not by its text: `source` copies the SQL into a new string on every read.
          let kind = kindOfStatement.get(this);
          if (kind === undefined) kindOfStatement.set(this, (kind = statementKind(this.source)));
          count(kind);
          if (!s.time) return original.apply(this, args);
          const s0 = performance.now();
          try {
            return original.apply(this, args);
          } finally {
            add(s.ms, kind, performance.now() - s0);
          }
        };
      }
    }
    return stmt;
  };
  const pgProto = pg.Client.prototype;
  const query = pgProto.query;
  pgProto.query = function (...args) {
    const first = args[0];
    count(
      statementKind(
        typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : '?',
      ),
    );
    return query.apply(this, args);
  };

  const channel = new BroadcastChannel('provisioner-bench-statements');
  channel.unref();
  if (isMainThread) {
    channel.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'hello') channel.postMessage({ type: 'config', time: s.time });
      if (m.type !== 'counts') return;
      for (const [k, v] of m.byKind) {
        s.total += v;
        add(s.byKind, k, v);
      }
      for (const [k, v] of m.ms) add(s.ms, k, v);
    };
  } else {
    channel.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'config') s.time = m.time;
    };
    channel.postMessage({ type: 'hello' });
    setInterval(() => {
      if (s.total === 0 && s.ms.size === 0) return;
      channel.postMessage({ type: 'counts', byKind: [...s.byKind], ms: [...s.ms] });
      s.total = 0;
      s.byKind = new Map();
      s.ms = new Map();
    }, 100).unref();
  }
  return s;
}

const kinds = new Map();
/** "update steps", "select workflows", "begin"… from the statement's first words (memoised by text). */
function statementKind(sqlText) {
  let kind = kinds.get(sqlText);
  if (kind !== undefined) return kind;
  const s = sqlText.trimStart().slice(0, 120).replace(/"/g, '').replace(/\s+/g, ' ').toLowerCase();
  const verb = s.split(' ', 1)[0] ?? '';
  const table =
    verb === 'select'
      ? (/ from ([a-z_]+)/.exec(s)?.[1] ?? '')
      : verb === 'insert'
        ? (/ into ([a-z_]+)/.exec(s)?.[1] ?? '')
        : verb === 'update'
          ? (/^update ([a-z_]+)/.exec(s)?.[1] ?? '')
          : verb === 'delete'
            ? (/ from ([a-z_]+)/.exec(s)?.[1] ?? '')
            : '';
  kind = table ? `${verb} ${table}` : s.slice(0, 24);
  // A claim is an update too; today's (steps-repo claimDue) is told apart by its window function.
  if (verb === 'update' && sqlText.includes('row_number()')) kind += ' (claim)';
  if (kinds.size < 10_000) kinds.set(sqlText, kind);
  return kind;
}

/** Main thread: time statements by kind from now on (here and in worker threads). */
export function timeStatements(on) {
  state.time = on;
  if (isMainThread) {
    const c = new BroadcastChannel('provisioner-bench-statements');
    c.postMessage({ type: 'config', time: on });
    c.close();
  }
}

export function resetStatements() {
  state.total = 0;
  state.byKind = new Map();
  state.ms = new Map();
}

/** Counts since the last reset, most frequent kinds first (worker threads' counts up to ~100 ms ago). */
export function statementsSnapshot() {
  return {
    total: state.total,
    byKind: Object.fromEntries([...state.byKind].sort((x, y) => y[1] - x[1])),
    msByKind: Object.fromEntries([...state.ms].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Math.round(v)])),
  };
}
