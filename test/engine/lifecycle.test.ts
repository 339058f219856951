// Rollback that finishes what it started, operators' resolution, and the signals operators rely on (issue 12).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Conflict } from '../../src/domain/errors.js';
import { createLogger } from '../../src/runtime.js';
import { createCredentialCipher } from '../../src/engine/credential-cipher.js';
import { testDialects } from '../support/runtime.js';
import { FAST_RETRY, manifestFor, registerAndStart, sharedRuntime, simFor, stepOf, untilStep, untilWorkflow } from '../support/engine.js';

const lines: { level: number; msg: string; workflow_id?: string; step?: string; tenant?: string }[] = [];
const log = createLogger(
  'warn',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  }),
);

for (const dialect of testDialects()) {
  describe(`rollback, repair and lifecycle (${dialect})`, () => {
    const env = sharedRuntime(dialect, {}, { log });

    it('compensates a poll step the service accepted, with the id from its accepted answer, when a sibling fails', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/jobs', { status: 202, headers: { location: '/jobs/j-41' }, json: { job_id: 'j-41' } });
      sim.route('GET', '/jobs/j-41', { json: { status: 'in_progress' } });
      sim.route('DELETE', '/jobs/:id', { status: 204 });
      sim.route('POST', '/fail', async (req) => {
        await untilStep(rt, req.headers['x-provisioner-workflow'], 'build', 'waiting_poll');
        return { status: 400, json: { error: 'no' } };
      });
      const m = manifestFor(sim, [
        {
          name: 'build',
          type: 'poll',
          request: { path: '/jobs' },
          poll: { interval_s: 0.05, timeout_s: 30 },
          compensate: { method: 'DELETE', path: '/jobs/{{steps.build.response.job_id}}' },
        },
        { name: 'fail', type: 'http', request: { path: '/fail' }, retry: { ...FAST_RETRY, max_attempts: 1 } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const d = await untilWorkflow(rt, workflowId, 'rolled_back');
      assert.deepEqual(
        sim.calls('DELETE').map((r) => r.path),
        ['/jobs/j-41'],
        'the accepted job was undone, named by its accepted answer',
      );
      assert.equal(stepOf(d, 'build').status, 'compensated');
    });

    it('counts a compensation answered 404 as already undone, so the rollback completes, unless the manifest says otherwise', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'gone' } });
      sim.route('DELETE', '/accounts/gone', { status: 404, json: { error: 'no such account' } });
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        { name: 'fail', type: 'http', depends_on: ['account'], request: { path: '/fail' } },
      ]);
      const { workflowId } = await registerAndStart(rt, m);
      const d = await untilWorkflow(rt, workflowId, 'rolled_back');
      assert.equal(stepOf(d, 'account').status, 'compensated');

      // A manifest can say a 404 is not good enough.
      const strict = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}', undone_statuses: [] },
        },
        { name: 'fail', type: 'http', depends_on: ['account'], request: { path: '/fail' } },
      ]);
      const second = await registerAndStart(rt, strict);
      const failed = await untilWorkflow(rt, second.workflowId, 'failed');
      assert.match(failed.error ?? '', /^rollback incomplete: could not undo account: DELETE .* answered 404/);
    });

    it('lets an operator resolve an incomplete rollback (reason required, audited); force-complete refuses it', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/accounts', { json: { id: 'acc' } });
      sim.route('DELETE', '/accounts/acc', { status: 400, json: { error: 'locked' } });
      sim.route('POST', '/fail', { status: 400 });
      const m = manifestFor(sim, [
        {
          name: 'account',
          type: 'http',
          request: { path: '/accounts' },
          compensate: { method: 'DELETE', path: '/accounts/{{steps.account.output.id}}' },
        },
        { name: 'fail', type: 'http', depends_on: ['account'], request: { path: '/fail' } },
      ]);
      const { workflowId, tenantId } = await registerAndStart(rt, m);
      const failed = await untilWorkflow(rt, workflowId, 'failed');
      assert.match(failed.error ?? '', /^rollback incomplete: could not undo account: /);
      await assert.rejects(rt.admin.forceComplete(workflowId, { actor: 'ops', reason: 'looks fine' }), Conflict);
      await assert.rejects(rt.admin.resolve(workflowId, { actor: 'ops', reason: null }), Conflict, 'a resolution says what was done');
      await rt.admin.resolve(workflowId, { actor: 'ops', reason: 'deleted account acc by hand' });
      const d = await rt.queries.detail(workflowId, null);
      assert.equal(d.status, 'rolled_back');
      assert.equal(stepOf(d, 'account').status, 'compensated');
      const events = (await rt.queries.events(workflowId, null, undefined, 100)).items;
      assert.ok(events.some((e) => e.type === 'admin.resolve' && e.actor === 'ops' && e.reason === 'deleted account acc by hand'));
      await eventuallyLogged(workflowId, 50, /rollback incomplete/);
      assert.ok(
        lines.some((l) => l.workflow_id === workflowId && l.tenant === tenantId && l.step === 'account' && l.level === 40),
        'the failed compensation is a warning naming the step',
      );
    });

    it('takes the endpoint from the step that declares it, else from the last reporting step in DAG order, whatever finishes last', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/db', { json: { endpoint: 'postgres://db.example/1' }, delayMs: 300 });
      sim.route('POST', '/account', { json: { id: 'a' } });
      sim.route('POST', '/dns', { json: { endpoint: 'https://svc.example' } });
      const steps = [
        { name: 'db', type: 'http', request: { path: '/db' } },
        { name: 'account', type: 'http', request: { path: '/account' } },
        { name: 'dns', type: 'http', depends_on: ['account'], request: { path: '/dns' } },
      ];
      const byRule = await registerAndStart(rt, manifestFor(sim, steps));
      const ruled = await untilWorkflow(rt, byRule.workflowId, 'completed');
      assert.ok(
        Date.parse(stepOf(ruled, 'db').completed_at as string) > Date.parse(stepOf(ruled, 'dns').completed_at as string),
        'db finished last',
      );
      assert.equal(ruled.endpoint, 'https://svc.example', 'dns is deeper in the DAG than db');

      const declared = await registerAndStart(
        rt,
        manifestFor(
          sim,
          steps.map((x) => (x.name === 'db' ? { ...x, endpoint: true } : x)),
        ),
      );
      assert.equal((await untilWorkflow(rt, declared.workflowId, 'completed')).endpoint, 'postgres://db.example/1');
    });

    it('fails a step once, with the reason, when stored credentials cannot be decrypted (never re-runs it)', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/one', { json: { credentials: { user: 'u' } } });
      sim.route('POST', '/two', async (req) => {
        // As if the first step's credentials had been sealed with a key this process no longer has.
        const foreign = createCredentialCipher(Buffer.alloc(32, 9).toString('base64')).encrypt({ user: 'u' });
        await rt.store.db
          .updateTable('steps')
          .set({ state: JSON.stringify({ sealed_credentials: foreign }) })
          .where('workflow_id', '=', req.headers['x-provisioner-workflow'])
          .where('name', '=', 'one')
          .execute();
        return { json: { credentials: { password: 'p' } } };
      });
      const m = manifestFor(
        sim,
        [
          { name: 'one', type: 'http', request: { path: '/one' } },
          { name: 'two', type: 'http', depends_on: ['one'], request: { path: '/two' } },
        ],
        { on_failure: 'hold' },
      );
      const { workflowId } = await registerAndStart(rt, m);
      const d = await untilWorkflow(rt, workflowId, 'failed');
      assert.match(
        stepOf(d, 'two').error ?? '',
        /^the reported credentials could not be stored: credentials were encrypted with key [0-9a-f]{12}, which is not configured/,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sim.calls('POST', '/two').length, 1, 'the step is not sent again');
    });

    it('says who must act on a workflow held after a failure', async (t) => {
      const { rt } = env;
      const sim = await simFor(t);
      sim.route('POST', '/refuse', { status: 400 });
      const m = manifestFor(sim, [{ name: 'create', type: 'http', request: { path: '/refuse' } }], { on_failure: 'hold' });
      const { workflowId, tenantId, slug } = await registerAndStart(rt, m);
      await untilWorkflow(rt, workflowId, 'failed');
      const status = await rt.queries.status(tenantId, slug);
      assert.equal(status.waiting_on.length, 1);
      assert.equal(status.waiting_on[0].step, 'create');
      assert.match(status.waiting_on[0].reason, /held for an operator .*retry-step, force-complete or cancel/);
      await eventuallyLogged(workflowId, 40, /workflow failed/);
    });
  });
}

async function eventuallyLogged(workflowId: string, level: number, msg: RegExp) {
  for (let i = 0; i < 50 && !lines.some((l) => l.workflow_id === workflowId && l.level >= level && msg.test(l.msg)); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    lines.some((l) => l.workflow_id === workflowId && l.level >= level && msg.test(l.msg)),
    `logged ${msg} at level ≥ ${level}: ${JSON.stringify(lines.filter((l) => l.workflow_id === workflowId))}`,
  );
}
