import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { LocalWakeups } from '../../src/store/dialect.js';
import { createLeaseLoop } from '../../src/engine/lease-loop.js';

describe('lease loop', () => {
  it('claims a job that became due while the last claim ran, without waiting for the fallback poll', async (t) => {
    // One job, due 5 ms after the loop starts; every claim looks at the clock, then takes 30 ms (a slow
    // database). The first claim looks before the job is due and returns nothing; by the time it ends the
    // job is due. Asking "what is due after now?" then skips it and the loop sleeps the fallback poll.
    const dueAt = Date.now() + 5;
    let taken = false;
    let ranAt = 0;
    const loop = createLeaseLoop<string>({
      log: pino({ level: 'silent' }),
      what: 'job',
      concurrency: 4,
      pollIntervalMs: 20_000,
      wakeups: new LocalWakeups(),
      wakeOn: 'steps',
      now: Date.now,
      async claim() {
        const lookedAt = Date.now();
        await new Promise((r) => setTimeout(r, 30));
        if (taken || lookedAt < dueAt) return { jobs: [] };
        taken = true;
        return { jobs: ['job'] };
      },
      async run() {
        ranAt = Date.now();
      },
      key: (j) => j,
      nextDueAt: async (since) => (!taken && dueAt > since ? dueAt : null),
    });
    loop.start();
    t.after(() => loop.stop(100));
    const deadline = Date.now() + 5_000;
    while (ranAt === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ranAt > 0, 'the job ran before the 20 s fallback poll');
    assert.ok(ranAt - dueAt < 1_000, `the job ran ${ranAt - dueAt} ms after it became due`);
  });
  it('sleeps until the next due moment its claim reported, without asking for it again', async (t) => {
    const dueAt = Date.now() + 80;
    let asked = 0;
    let ranAt = 0;
    const loop = createLeaseLoop<string>({
      log: pino({ level: 'silent' }),
      what: 'job',
      concurrency: 4,
      pollIntervalMs: 20_000,
      wakeups: new LocalWakeups(),
      wakeOn: 'steps',
      now: Date.now,
      async claim() {
        if (ranAt > 0) return { jobs: [], nextDueAt: null };
        return Date.now() < dueAt ? { jobs: [], nextDueAt: dueAt } : { jobs: ['job'], nextDueAt: null };
      },
      async run() {
        ranAt = Date.now();
      },
      key: (j) => j,
      async nextDueAt() {
        asked++;
        return null;
      },
    });
    loop.start();
    t.after(() => loop.stop(100));
    const deadline = Date.now() + 5_000;
    while (ranAt === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ranAt >= dueAt, 'not before it was due');
    assert.ok(ranAt - dueAt < 1_000, `the job ran ${ranAt - dueAt} ms after it became due, not at the 20 s fallback poll`);
    assert.equal(asked, 0, 'the loop did not ask for the next due moment');
  });
});
