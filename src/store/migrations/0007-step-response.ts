import type { Kysely, Migration } from 'kysely';

/**
 * The answer that accepted a callback or poll step's work (a job id, a resource id): templates read it as
 * `steps.<name>.response`, so a compensation can undo what was started even if the step never finished.
 */
export const stepResponse: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('steps').addColumn('response', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('steps').dropColumn('response').execute();
  },
};
