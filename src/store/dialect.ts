import type { Kysely } from 'kysely';
import type { Db } from './db-types.js';
import type { HotPath } from './hot-path.js';

/** Where new work is announced: in-process always, across replicas where the database can carry it. */
export interface WakeupChannel {
  /** Called after a commit that made work due (steps or deliveries): this process and the others, in one message. */
  notify(...topics: WakeTopic[]): void;
  /** This process only: the commit that made the work due announced it to the others itself. */
  notifyLocal(...topics: WakeTopic[]): void;
  subscribe(topic: WakeTopic, listener: () => void): () => void;
  close(): Promise<void>;
}
export type WakeTopic = 'steps' | 'webhooks';

/**
 * Every difference between SQLite and PostgreSQL lives behind this seam (Kysely's dialect/adapter
 * split). Nothing outside store/ knows which database it talks to.
 */
export interface StoreDialect {
  /** For logs and /readyz only, never for branching. */
  readonly name: 'sqlite' | 'postgres';
  readonly db: Kysely<Db>;
  /** The engine's claims and batched transitions, with statements written once for this database. */
  readonly hot: HotPath;
  /** Appended to the claim's inner select: PostgreSQL skips rows another replica holds; SQLite has one writer. */
  readonly claimLockClause: string;
  /** Runs `fn` while holding a database-wide lock (migrations at start of several replicas). */
  withMigrationLock<T>(fn: () => Promise<T>): Promise<T>;
  wakeups(): WakeupChannel;
  /** Cheap round trip for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** True for errors that mean "the database is unreachable right now" (→ 503, retry later). */
  isConnectionError(e: unknown): boolean;
  /** True for a unique-constraint violation. */
  isUniqueViolation(e: unknown): boolean;
}

export class LocalWakeups implements WakeupChannel {
  private listeners = new Map<WakeTopic, Set<() => void>>();
  notify(...topics: WakeTopic[]) {
    for (const topic of topics) for (const l of this.listeners.get(topic) ?? []) l();
  }
  notifyLocal(...topics: WakeTopic[]) {
    this.notify(...topics);
  }
  subscribe(topic: WakeTopic, listener: () => void) {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }
  async close() {
    this.listeners.clear();
  }
}
