/** Old name of Queryable, kept only for services-repo.ts (another branch edits it); delete once it imports Queryable. */
export type { Queryable as Executor } from './queryable.js';
