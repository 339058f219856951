import type { Kysely, Transaction } from 'kysely';
import type { Db } from './db-types.js';

/** What a repository function queries: the pool or a caller's transaction alike. (Not the engine's Executor.) */
export type Queryable = Kysely<Db> | Transaction<Db>;
