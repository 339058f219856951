import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createSqliteDialect } from '../../src/store/dialect-sqlite.js';

describe('SQLite checkpoints on their own thread', () => {
  it('copies committed pages into the database file without waiting for the writer, and leaves no log at close', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-ckpt-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'db.sqlite');
    const dialect = createSqliteDialect(file);
    let closed = false;
    t.after(() => (closed ? undefined : dialect.close()));
    await sql`create table blobs (id integer primary key, body text not null)`.execute(dialect.db);
    const before = statSync(file).size;
    // ~800 KB in small commits: far below the autocheckpoint of any writer (SQLite's default 1,000 pages, ours 10,000), so only the
    // checkpoint thread moves it into the file.
    const body = 'x'.repeat(4000);
    for (let i = 0; i < 200; i++) await sql`insert into blobs (body) values (${body})`.execute(dialect.db);
    const deadline = Date.now() + 5_000;
    while (statSync(file).size < before + 700_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(statSync(file).size >= before + 700_000, `database file ${statSync(file).size} bytes, was ${before}`);

    await dialect.close();
    closed = true;
    assert.equal(existsSync(`${file}-wal`), false, 'the last connection checkpointed and removed the log');
    const reopened = createSqliteDialect(file);
    try {
      const { rows } = await sql<{ n: number }>`select count(*) as n from blobs`.execute(reopened.db);
      assert.equal(rows[0]?.n, 200);
    } finally {
      await reopened.close();
    }
  });

  it('keeps the process alive while it stops, so closing with nothing else pending still checkpoints', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-ckpt-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'db.sqlite');
    const module = new URL('../../src/store/dialect-sqlite.ts', import.meta.url).href;
    // The child's last await is the close: if the thread it waits for holds no reference, Node ends the
    // process there (exit code 13, "unsettled top-level await") and never prints "closed".
    const script = `
      import { sql } from 'kysely';
      import { createSqliteDialect } from ${JSON.stringify(module)};
      const d = createSqliteDialect(${JSON.stringify(file)});
      await sql\`create table t (x integer)\`.execute(d.db);
      await sql\`insert into t values (1)\`.execute(d.db);
      await d.close();
      console.log('closed');`;
    for (let i = 0; i < 5; i++) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.status, 0, `run ${i}: exit ${run.status}, ${run.stderr.slice(0, 400)}`);
      assert.equal(run.stdout.trim(), 'closed');
      assert.equal(existsSync(`${file}-wal`), false, 'the log was checkpointed and removed');
      rmSync(file, { force: true });
    }
  });
});
