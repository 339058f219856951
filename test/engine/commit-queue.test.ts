import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Committed } from '../../src/engine/commit-queue.js';
import { NotFound } from '../../src/domain/errors.js';
import { testDialects } from '../support/runtime.js';
import { manifestFor, registerAndStart, sharedRuntime, simFor } from '../support/engine.js';

for (const dialect of testDialects()) {
  describe(`commit queue (${dialect})`, () => {
    const env = sharedRuntime(dialect, {}, { executor: false });

    it('applies every decision once and in order per workflow, spread over flushes shared with other workflows', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const ids: string[] = [];
      for (let i = 0; i < 9; i++) ids.push((await registerAndStart(rt, m, { register: i === 0 })).workflowId);
      const groups = [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)];

      // Each decision reads the counter its predecessor wrote (kept in the workflow's error field) and
      // refuses to run out of order: a lost update or a reordering rejects it and fails the test. Each turn
      // of the event loop brings decisions for another group of workflows, as outcomes arrive, so a
      // workflow's decisions are spread over many flushes and share them with other workflows'.
      const perWorkflow = 30;
      const submitted: Promise<number>[] = [];
      for (let k = 0; k < perWorkflow; k++) {
        for (const group of groups) {
          for (const id of group)
            submitted.push(
              rt.commits.submit(id, (d) => {
                const seen = Number(d.wf.error ?? '0');
                if (seen !== k) throw new Error(`decision ${k} of ${id} saw ${seen}`);
                d.setWorkflow({ error: String(k + 1) });
                return k;
              }),
            );
          await new Promise((r) => setImmediate(r));
        }
      }
      const results = await Promise.all(submitted);
      assert.equal(results.length, perWorkflow * ids.length);
      for (const id of ids) {
        const d = await rt.queries.detail(id, null);
        assert.equal(d.error, String(perWorkflow), `workflow ${id}`);
      }
    });

    it('rejects only the decision that throws; the rest of its batch commits', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const a = await registerAndStart(rt, m);
      const b = await registerAndStart(rt, m, { register: false });
      const good = rt.commits.submit(a.workflowId, (d) => d.setWorkflow({ error: 'kept' }));
      const bad = rt.commits.submit(b.workflowId, (d) => {
        d.setWorkflow({ error: 'undone' });
        throw new Error('refused');
      });
      await good;
      await assert.rejects(bad, /refused/);
      assert.equal((await rt.queries.detail(a.workflowId, null)).error, 'kept');
      assert.notEqual((await rt.queries.detail(b.workflowId, null)).error, 'undone');
    });

    it("announces a workflow's due steps after a commit that changed none of them: a claim passed over them while the batch held their rows", async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      // No executor runs: the first step of each workflow stays due.
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const due = await registerAndStart(rt, m);
      const wakes: number[] = [];
      const unsubscribe = rt.store.dialect.wakeups().subscribe('steps', () => wakes.push(Date.now()));
      t.after(unsubscribe);

      await rt.commits.submit(due.workflowId, (d) => d.setWorkflow({ error: 'touched' }));
      assert.equal(wakes.length, 1, 'the commit woke the claim loops once');

      // A workflow without a due step (its step leased) is not announced.
      const leased = await registerAndStart(rt, m, { register: false });
      const claimed = await rt.store.dialect.hot.claim({
        owner: 'probe:1',
        limit: 1000, // every due step in this shared database, so surely this one
        now: Date.now(),
        leaseGraceMs: 60_000,
        afterTenant: '',
        skipWorkflows: [],
      });
      assert.ok(claimed.steps.some((s) => s.workflow_id === leased.workflowId));
      wakes.length = 0;
      await rt.commits.submit(leased.workflowId, (d) => d.setWorkflow({ error: 'touched' }));
      assert.equal(wakes.length, 0, 'nothing was announced');
    });

    it('tells its observers, once committed, when a step it left due later becomes due, and announces nothing then', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      const wakes: number[] = [];
      const commits: Committed[] = [];
      const unsubscribe = rt.store.dialect.wakeups().subscribe('steps', () => wakes.push(Date.now()));
      t.after(unsubscribe);
      const unwatch = rt.commits.onCommit((c) => commits.push(c));
      t.after(unwatch);

      const dueAt = Date.now() + 60_000; // as a retry's backoff would
      await rt.commits.submit(workflowId, (d) => {
        const s = d.step('only');
        if (!s) throw new Error('no step');
        d.writeStep(s, { next_run_at: dueAt }, { from: ['pending'] });
      });
      assert.deepEqual(commits, [{ laterDueAt: dueAt, completed: [] }]);
      assert.equal(wakes.length, 0, 'a step due later is not announced to the other replicas');
    });

    it('tells its observers the results of the steps a batch completed, whoever completed them', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [
        { name: 'first', type: 'http', request: { path: '/x' } },
        { name: 'second', type: 'http', depends_on: ['first'], request: { path: '/x' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const commits: Committed[] = [];
      const unwatch = rt.commits.onCommit((c) => commits.push(c));
      t.after(unwatch);

      // As an operator's force-complete would: no executor ran the step.
      await rt.commits.submit(workflowId, (d) => {
        const s = d.step('first');
        if (!s) throw new Error('no step');
        d.writeStep(s, { status: 'completed', output: '{"id":"a1"}', next_run_at: null, completed_at: d.now }, { from: ['pending'] });
      });
      assert.deepEqual(
        commits.map((c) => c.completed),
        [[{ workflow_id: workflowId, name: 'first', output: '{"id":"a1"}', response: null }]],
      );
    });

    it('treats a workflow id as data: one with quotes and SQL in it is simply not found', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      const hostile = "wf_x'); drop table steps; --";
      await assert.rejects(
        rt.commits.submit(hostile, (d) => d.setWorkflow({ error: 'never' })),
        (e: unknown) => e instanceof NotFound,
      );
      // The same batch mechanism still works, and the tables are there.
      await rt.commits.submit(workflowId, (d) => d.setWorkflow({ error: 'kept' }));
      assert.equal((await rt.queries.detail(workflowId, null)).error, 'kept');
      assert.equal((await rt.queries.detail(workflowId, null)).steps.length, 1);
    });
    it('announces what a batch made due to the other replicas with its commit, one NOTIFY per topic', {
      skip: dialect === 'sqlite' && 'SQLite has no other replicas',
    }, async (t) => {
      const { rt } = env;
      if (rt.config.database.kind !== 'postgres') throw new Error('PostgreSQL expected');
      // Another replica, as far as the database can tell: a connection of its own listening on both channels.
      const other = new pg.Client({ connectionString: rt.config.database.url });
      await other.connect();
      t.after(() => other.end());
      const heard: { channel: string; payload: string | undefined }[] = [];
      other.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload }));
      await other.query('listen provisioner_steps');
      await other.query('listen provisioner_webhooks');
      const sim = await simFor(t);
      const m = manifestFor(sim, [{ name: 'only', type: 'http', request: { path: '/x' } }]);
      const { workflowId } = await registerAndStart(rt, m);
      const settle = () => new Promise((r) => setTimeout(r, 200));
      await settle();
      heard.length = 0;

      // Its step is due: the commit announces it.
      await rt.commits.submit(workflowId, (d) => d.setWorkflow({ error: 'touched' }));
      await settle();
      assert.deepEqual(
        heard.map((h) => h.channel),
        ['provisioner_steps'],
      );
      assert.ok(heard[0]?.payload, 'with the origin, so the sender ignores its own');

      // Nothing due, a message in the outbox: only the webhook dispatchers are told.
      heard.length = 0;
      await rt.commits.submit(workflowId, (d) => {
        const s = d.step('only');
        if (!s) throw new Error('no step');
        d.writeStep(s, { next_run_at: null }, { from: ['pending'] });
        d.emit('provisioning.workflow.started');
      });
      await settle();
      assert.deepEqual(
        heard.map((h) => h.channel),
        ['provisioner_webhooks'],
      );

      // A batch whose decision is refused announces nothing: nothing committed.
      heard.length = 0;
      await assert.rejects(
        rt.commits.submit(workflowId, (d) => {
          d.setWorkflow({ error: 'undone' });
          throw new Error('refused');
        }),
      );
      await settle();
      assert.deepEqual(heard, []);
    });
  });
}
