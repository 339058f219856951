import type { Kysely, Migration } from 'kysely';

/**
 * The W3C `traceparent` of the API request that started a workflow (null when tracing was off or no
 * request started it). Each step attempt's span is its child, so a workflow's steps, on whichever
 * replica runs them and however much later, join the trace of the request that asked for them.
 */
export const workflowTraceParent: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('workflows').addColumn('trace_parent', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('workflows').dropColumn('trace_parent').execute();
  },
};
