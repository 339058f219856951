import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Db } from './db-types.js';
import { LocalWakeups, type StoreDialect, type WakeTopic, type WakeupChannel } from './dialect.js';
import { createPostgresHotPath, wakeChannel } from './hot-path-postgres.js';

// BIGINT columns hold epoch milliseconds, well inside Number's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

const MIGRATION_LOCK_ID = 7_305_214_001;
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

export function createPostgresDialect(url: string, poolSize: number, log?: (msg: string, err?: unknown) => void): StoreDialect {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
  // An idle client that loses its connection (database restart) emits here; without a listener the process dies.
  pool.on('error', (err) => log?.('idle database connection lost', err));
  // pg-pool listens for errors only while a client is idle; one checked out between two queries (inside
  // a transaction, say) that loses its server would emit 'error' unheard and crash the process. The
  // query in progress or the next one fails instead, and the callers' retries take it from there.
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.('database connection lost', err));
  });
  const db = new Kysely<Db>({ dialect: new PostgresDialect({ pool }) });
  let wakeups: PgWakeups | null = null;
  // The payload of every NOTIFY this process sends, its own batches' included: its LISTEN ignores them.
  const origin = randomUUID();
  return {
    name: 'postgres',
    db,
    hot: createPostgresHotPath(pool, origin),
    claimLockClause: 'for update skip locked',
    async withMigrationLock(fn) {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        try {
          return await fn();
        } finally {
          await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
        }
      } finally {
        client.release();
      }
    },
    wakeups() {
      return (wakeups ??= new PgWakeups(url, pool, origin, log));
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await wakeups?.close();
      await db.destroy();
    },
    isConnectionError(e) {
      const code = e && typeof e === 'object' && 'code' in e ? String((e as { code: unknown }).code) : '';
      const msg = e instanceof Error ? e.message : '';
      return (
        CONNECTION_ERROR_CODES.has(code) ||
        /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg)
      );
    },
    isUniqueViolation: (e) => !!e && typeof e === 'object' && 'code' in e && (e as { code: unknown }).code === '23505',
  };
}

/**
 * LISTEN/NOTIFY across replicas on one dedicated connection, reconnecting with backoff after the
 * database goes away. Local listeners are told at once as well, so a replica never waits on itself.
 */
class PgWakeups implements WakeupChannel {
  private local = new LocalWakeups();
  private client: pg.Client | null = null;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  constructor(
    private url: string,
    private pool: pg.Pool,
    /** Sent as the payload: our own NOTIFY comes back on our LISTEN, and local listeners were told already. */
    private readonly origin: string,
    private log?: (msg: string, err?: unknown) => void,
  ) {
    void this.connect(0);
  }

  private async connect(delayMs: number) {
    if (this.closed) return;
    if (delayMs > 0) {
      await new Promise<void>((r) => {
        this.retryTimer = setTimeout(r, delayMs);
        this.retryTimer.unref();
      });
      if (this.closed) return;
    }
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => {
      /* handled by 'end' below */
    });
    client.on('end', () => {
      if (this.client === client) this.client = null;
      if (!this.closed) {
        // Work may have been announced while we were deaf: wake everyone once, then reconnect.
        this.local.notify('steps');
        this.local.notify('webhooks');
        void this.connect(Math.min(5000, Math.max(250, delayMs * 2)));
      }
    });
    client.on('notification', (n) => {
      if (n.payload === this.origin) return;
      if (n.channel === wakeChannel('steps')) this.local.notify('steps');
      else if (n.channel === wakeChannel('webhooks')) this.local.notify('webhooks');
    });
    try {
      await client.connect();
      await client.query(`listen ${wakeChannel('steps')}`);
      await client.query(`listen ${wakeChannel('webhooks')}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
    } catch (err) {
      this.log?.('LISTEN connection failed; retrying', err);
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      void this.connect(Math.min(5000, Math.max(250, delayMs * 2)));
    }
  }

  notify(...topics: WakeTopic[]) {
    this.local.notify(...topics);
    // Fire and forget by design: a lost NOTIFY only delays other replicas until their fallback poll.
    this.pool.query('select pg_notify(c, $2) from unnest($1::text[]) c', [topics.map(wakeChannel), this.origin]).catch(() => undefined);
  }

  notifyLocal(...topics: WakeTopic[]) {
    this.local.notify(...topics);
  }

  subscribe(topic: WakeTopic, listener: () => void) {
    return this.local.subscribe(topic, listener);
  }

  async close() {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
    await this.local.close();
  }
}
