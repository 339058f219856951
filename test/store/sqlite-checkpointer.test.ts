import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
});
