import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import { startTestRuntime, testDialects, type TestRuntime } from '../support/runtime.js';
import { startServiceSim, type ServiceSim, type SimResponse } from '../support/service-sim.js';
import { eventsOf, untilDetail } from '../support/engine.js';
import {
  manifestOf,
  scenarioArb,
  stepName,
  TIMING,
  violations,
  type RequestBehaviour,
  type Scenario,
  type StepScenario,
} from './workflow-model.js';

/**
 * Random valid manifests (DAGs of 1–6 http/callback/poll/delay steps) under random service behaviour
 * (success, 5xx, hangs, resets, non-JSON, huge bodies; early, duplicate, reordered, late or missing
 * callbacks; failing compensations) always reach a terminal state, by the outcome the oracle predicts,
 * and never break the state machines of DESIGN §7 (workflow-model.ts lists every rule checked).
 *
 * Bounded: a few batches of a few concurrent workflows per database, no shrinking (endOnFailure), so
 * the file stays well under a minute; a failure prints the scenario, its violations and fast-check's seed.
 */
const BATCHES = 5;
const SECRET = `prop-secret-${randomBytes(6).toString('hex')}`;
const HUGE = 'h'.repeat(1024 * 1024 + 10);
const BOUND_MS = 5000;

interface Run {
  sc: Scenario;
  calls: Map<string, number>;
  tasks: Promise<void>[];
  problems: string[];
}

for (const dialect of testDialects()) {
  describe(`random workflows under random service behaviour (${dialect})`, () => {
    let rt: TestRuntime;
    let app: FastifyInstance;
    let sim: ServiceSim;
    const runs = new Map<string, Run>();
    let seq = 0;

    before(async () => {
      rt = await startTestRuntime(dialect, { PROVISIONER_WORKER_CONCURRENCY: '16', PROVISIONER_CALLBACK_RATE_LIMIT: '1000000' });
      app = await buildServer(rt);
      await app.ready();
      sim = await startServiceSim();
      sim.route('POST', '/:scn/:step', (req, _nth, p) => forward(req.body, p.scn, p.step));
      sim.route('GET', '/:scn/:step/poll', (_req, _nth, p) => poll(p.scn, p.step));
      sim.route('POST', '/:scn/:step/undo', (_req, _nth, p) => undo(p.scn, p.step));
    });
    after(async () => {
      await sim.close();
      await app.close();
      await rt.dispose();
    });

    const specOf = (run: Run, step: string): StepScenario => run.sc.steps[Number(step.slice(1))];
    const count = (run: Run, what: string) => {
      const n = (run.calls.get(what) ?? 0) + 1;
      run.calls.set(what, n);
      return n;
    };

    /** Sends a callback through the real endpoint; only 200, 409 and 410 are lawful, and it must answer. */
    async function callback(run: Run, step: string, body: Record<string, unknown>): Promise<number> {
      const answer = app.inject({ method: 'POST', url: '/api/v1/provisioning/callback', payload: body });
      const timeout = new Promise<'hang'>((r) => setTimeout(() => r('hang'), BOUND_MS).unref());
      const res = await Promise.race([answer, timeout]);
      if (res === 'hang') {
        run.problems.push(`callback ${body.status} for ${step} did not answer within ${BOUND_MS} ms`);
        return 0;
      }
      if (![200, 409, 410].includes(res.statusCode))
        run.problems.push(`callback ${body.status} for ${step} answered ${res.statusCode}: ${res.body}`);
      return res.statusCode;
    }

    const completedReport = (token: string, step: string) => ({
      callback_token: token,
      status: 'completed',
      endpoint: `https://${step}.example`,
      credentials: { secret: SECRET },
      metadata: { step },
    });

    function schedule(run: Run, step: string, token: string) {
      const spec = specOf(run, step);
      const later = (ms: number, fn: () => Promise<unknown>) =>
        run.tasks.push(
          new Promise<void>((resolve) => {
            setTimeout(() => {
              fn().then(
                () => resolve(),
                (e: unknown) => {
                  run.problems.push(`callback task threw: ${String(e)}`);
                  resolve();
                },
              );
            }, ms);
          }),
        );
      const done = completedReport(token, step);
      switch (spec.callback) {
        case 'normal':
          later(20, () => callback(run, step, done));
          break;
        case 'fail':
          later(20, () => callback(run, step, { callback_token: token, status: 'error', error: 'no capacity left' }));
          break;
        case 'duplicate':
          later(20, () => Promise.all([1, 2, 3].map(() => callback(run, step, done))));
          break;
        case 'reordered':
          later(20, async () => {
            await callback(run, step, done);
            await callback(run, step, { callback_token: token, status: 'running' });
            await callback(run, step, { callback_token: token, status: 'failed', error: 'out of order' });
          });
          break;
        case 'heartbeat':
          later(20, async () => {
            await callback(run, step, { callback_token: token, status: 'in_progress', metadata: { pct: 50 } });
            await callback(run, step, done);
          });
          break;
        case 'late':
          later(TIMING.waitTimeoutS * 1000 + 300, async () => {
            const status = await callback(run, step, done);
            if (status !== 409 && status !== 410) run.problems.push(`late callback for ${step} answered ${status}, not 409/410`);
          });
          break;
        case 'early':
        case 'never':
          break;
      }
    }

    function answer(r: RequestBehaviour, n: number, kind: StepScenario['kind'], step: string): SimResponse {
      const success: SimResponse =
        kind === 'http' ? { status: 200, json: { id: `${step}-id` } } : { status: 202, json: { accepted: true } };
      switch (r.kind) {
        case 'ok':
          return success;
        case 'creds':
          return { status: kind === 'http' ? 201 : 202, json: { id: `${step}-id`, credentials: { secret: SECRET } } };
        case 'nonjson':
          return { status: 200, body: 'accepted, thanks', headers: { 'content-type': 'text/plain' } };
        case 'flaky':
          return n <= r.failures ? answer({ kind: r.how }, n, kind, step) : success;
        case '5xx':
          return { status: 503, json: { error: 'try later' } };
        case 'hang':
          return { hang: true };
        case 'reset':
          return { reset: true };
        case '4xx':
          return { status: 422, json: { error: 'invalid request' } };
        case 'huge':
          return { status: 200, body: HUGE };
      }
    }

    async function forward(body: unknown, scn: string, step: string): Promise<SimResponse> {
      const run = runs.get(scn);
      if (!run) return { status: 404 };
      const spec = specOf(run, step);
      const n = count(run, `forward ${step}`);
      const token = (body as { callback_token?: string } | null)?.callback_token;
      if (spec.kind === 'callback' && spec.callback === 'early' && token) {
        const status = await callback(run, step, completedReport(token, step));
        if (status !== 200) run.problems.push(`early callback for ${step} answered ${status}, not 200`);
      }
      const res = answer(spec.request, n, spec.kind, step);
      const ok = !res.hang && !res.reset && (res.status ?? 200) < 300 && res.body !== HUGE;
      if (ok && spec.kind === 'callback' && token) schedule(run, step, token);
      return res;
    }

    function poll(scn: string, step: string): SimResponse {
      const run = runs.get(scn);
      if (!run) return { status: 404 };
      const { poll: p } = specOf(run, step);
      const n = count(run, `poll ${step}`);
      if (n <= p.progress) return { json: { status: 'in_progress', metadata: { pct: n * 10 } } };
      switch (p.end) {
        case 'completed':
          return { json: { status: 'succeeded', endpoint: `https://${step}.example`, credentials: { secret: SECRET } } };
        case 'failed':
          return { json: { status: 'failed', error: 'disk full' } };
        case 'garbage':
          return { body: '<html>oops</html>', headers: { 'content-type': 'text/html' } };
        case '5xx':
          return { status: 500, json: { error: 'poll broke' } };
        case 'hang':
          return { hang: true };
      }
    }

    function undo(scn: string, step: string): SimResponse {
      const run = runs.get(scn);
      if (!run) return { status: 404 };
      const n = count(run, `undo ${step}`);
      switch (specOf(run, step).compensate) {
        case '5xx-once':
          return n === 1 ? { status: 502 } : { status: 204 };
        case '4xx':
          return { status: 409, json: { error: 'cannot undo' } };
        default:
          return { status: 204 };
      }
    }

    const isTerminal = (d: { status: string; steps: { status: string; next_run_at: string | null }[] }) =>
      ['completed', 'rolled_back', 'cancelled', 'failed'].includes(d.status) &&
      d.steps.every(
        (s) =>
          !['running', 'waiting_callback', 'waiting_poll', 'compensating'].includes(s.status) &&
          !(s.status === 'pending' && s.next_run_at !== null),
      );

    async function runScenario(sc: Scenario): Promise<string[]> {
      const key = `p${process.pid}x${++seq}`;
      const run: Run = { sc, calls: new Map(), tasks: [], problems: [] };
      runs.set(key, run);
      const m = manifestOf(sc, key, sim.url);
      await rt.registry.register(m);
      const { workflowId } = await rt.starter.start({
        tenantId: `tenant-${key}`,
        serviceSlug: m.slug,
        kind: 'provision',
        parameters: {},
        idempotencyKey: null,
        actor: 'property',
      });
      let d = await untilDetail(rt, workflowId, 'a terminal state', isTerminal, 30_000);
      // Late and straggling callbacks arrive after the end: they must be refused and change nothing.
      await Promise.all(run.tasks);
      const after = await rt.queries.detail(workflowId, null);
      if (after.status !== d.status || JSON.stringify(after.steps.map((s) => s.status)) !== JSON.stringify(d.steps.map((s) => s.status))) {
        run.problems.push(`changed after reaching a terminal state: ${d.status} → ${after.status}`);
      }
      d = after;
      const requests = sim.requests.filter((r) => r.path.split('/')[1] === key);
      const problems = [...run.problems, ...violations(sc, d, await eventsOf(rt, workflowId), requests, SECRET)];
      return problems.map((p) => `${workflowId}: ${p}`);
    }

    it('always reaches a terminal state by the predicted outcome and never breaks the state machines', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(scenarioArb, { minLength: 3, maxLength: 5 }), async (batch) => {
          const problems = (await Promise.all(batch.map(runScenario))).flat();
          assert.deepEqual(problems, [], `${problems.join('\n')}\nscenarios: ${JSON.stringify(batch)}`);
        }),
        { numRuns: BATCHES, endOnFailure: true },
      );
    });

    it('checks every step kind and behaviour at least once (the generator is not lopsided)', () => {
      const sample = fc.sample(scenarioArb, { numRuns: 200, seed: 42 }).flatMap((sc) => sc.steps);
      for (const kind of ['http', 'callback', 'poll', 'delay'])
        assert.ok(
          sample.some((s) => s.kind === kind),
          kind,
        );
      for (const cb of ['normal', 'fail', 'early', 'duplicate', 'reordered', 'heartbeat', 'late', 'never'])
        assert.ok(
          sample.some((s) => s.callback === cb),
          cb,
        );
      for (const r of ['ok', 'creds', 'nonjson', 'flaky', '5xx', 'hang', 'reset', '4xx', 'huge'])
        assert.ok(
          sample.some((s) => s.request.kind === r),
          r,
        );
      assert.ok(
        sample.some((s) => s.depsMask.some(Boolean)),
        'some steps have dependencies',
      );
      assert.equal(stepName(5), 's5');
    });
  });
}
