import type { Kysely, Transaction } from 'kysely';
import type { Db } from './db-types.js';

/** A repository method runs on the pool or inside a caller's transaction alike. */
export type Executor = Kysely<Db> | Transaction<Db>;
