import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestDeadline } from '../../src/engine/request-deadline.js';

describe('request deadline', () => {
  it('aborts with a TimeoutError once its time has passed, and says it timed out', async () => {
    const outer = new AbortController();
    const d = requestDeadline(outer.signal, 20);
    assert.equal(d.signal.aborted, false);
    await sleep(60);
    assert.equal(d.signal.aborted, true);
    assert.equal(d.timedOut, true);
    assert.equal((d.signal.reason as Error).name, 'TimeoutError');
    d.dispose();
  });

  it('aborts when the outer signal does (the worker stopping), which is not a timeout', () => {
    const outer = new AbortController();
    const d = requestDeadline(outer.signal, 60_000);
    outer.abort(new Error('stopping'));
    assert.equal(d.signal.aborted, true);
    assert.equal(d.timedOut, false);
    assert.equal((d.signal.reason as Error).message, 'stopping');
    d.dispose();
  });

  it('starts aborted under an outer signal that already is', () => {
    const outer = new AbortController();
    outer.abort();
    const d = requestDeadline(outer.signal, 60_000);
    assert.equal(d.signal.aborted, true);
    assert.equal(getEventListeners(outer.signal, 'abort').length, 0);
    d.dispose();
  });

  it('leaves nothing behind once disposed: no listener on the outer signal, no timer to fire', async () => {
    const outer = new AbortController();
    const deadlines = Array.from({ length: 100 }, () => requestDeadline(outer.signal, 20));
    assert.equal(getEventListeners(outer.signal, 'abort').length, 100, 'one listener per request in flight');
    for (const d of deadlines) d.dispose();
    assert.equal(getEventListeners(outer.signal, 'abort').length, 0);
    await sleep(60);
    assert.ok(
      deadlines.every((d) => !d.signal.aborted && !d.timedOut),
      'a disposed deadline never fires',
    );
    outer.abort();
    assert.ok(
      deadlines.every((d) => !d.signal.aborted),
      'nor follows the outer signal',
    );
  });
});
