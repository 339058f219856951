import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Migrator, sql } from 'kysely';
import { openStore, type Store } from '../../src/store/store.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { freshDatabaseUrl, testDialects } from '../support/runtime.js';

async function indexes(store: Store, table: string): Promise<string[]> {
  const q =
    store.dialect.name === 'postgres'
      ? sql<{ name: string }>`select indexname as name from pg_indexes where tablename = ${table}`
      : sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`;
  return (await q.execute(store.db)).rows.map((r) => r.name).sort();
}

for (const dialect of testDialects()) {
  describe(`migrations (${dialect})`, () => {
    it('leaves steps and workflows with the indexes the hot path needs, and 0013 rolls back and forward', async (t) => {
      const { url, drop } = await freshDatabaseUrl(dialect);
      t.after(drop);
      const store = openStore(
        dialect === 'sqlite' ? { kind: 'sqlite', path: url.slice('sqlite:'.length) } : { kind: 'postgres', url, poolSize: 2 },
      );
      t.after(() => store.close());
      await store.migrate();

      const latest = {
        steps: ['steps_due', 'steps_due_tenant', 'steps_token', 'steps_workflow_name'],
        workflows: [
          'workflows_idempotency',
          'workflows_one_active',
          'workflows_service',
          'workflows_status',
          'workflows_tenant_id',
          'workflows_tenant_service',
        ],
      };
      const withoutKeys = (names: string[]) => names.filter((n) => !n.endsWith('_pkey'));
      assert.deepEqual(withoutKeys(await indexes(store, 'steps')), latest.steps);
      assert.deepEqual(withoutKeys(await indexes(store, 'workflows')), latest.workflows);
      if (dialect === 'postgres') {
        const { rows } = await sql<{ relname: string; reloptions: string[] | null }>`
          select relname, reloptions from pg_class where relname in ('steps', 'workflows') order by relname`.execute(store.db);
        assert.deepEqual(
          rows.map((r) => [r.relname, r.reloptions]),
          [
            ['steps', ['fillfactor=80']],
            ['workflows', ['fillfactor=80']],
          ],
        );
      }

      const migrator = new Migrator({ db: store.db, provider: migrationProvider });
      const down = await migrator.migrateDown();
      assert.equal(down.error, undefined);
      assert.deepEqual(
        down.results?.map((r) => [r.migrationName, r.status]),
        [['0013-hot-updates', 'Success']],
      );
      assert.deepEqual(withoutKeys(await indexes(store, 'steps')), [
        'steps_due',
        'steps_due_tenant',
        'steps_token',
        'steps_workflow',
        'steps_workflow_name',
      ]);

      assert.deepEqual(await store.migrate(), ['0013-hot-updates']);
      assert.deepEqual(withoutKeys(await indexes(store, 'steps')), latest.steps);
    });
  });
}
