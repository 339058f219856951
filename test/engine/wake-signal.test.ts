import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWakeSignal } from '../../src/engine/wake-signal.js';

const elapsed = async (fn: () => Promise<void>) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

describe('wake signal', () => {
  it('ends a sleep in progress by the time work becomes due (wakeIn)', async () => {
    const signal = createWakeSignal(new AbortController().signal);
    setTimeout(() => signal.wakeIn(30), 10);
    const ms = await elapsed(() => signal.sleep(20_000));
    assert.ok(ms >= 35 && ms < 1_000, `slept ${ms.toFixed(0)} ms; due after about 40`);
  });

  it('keeps a due time announced while the loop was busy for its next sleep', async () => {
    const signal = createWakeSignal(new AbortController().signal);
    signal.settle();
    signal.wakeIn(40); // announced during a claim, before the loop sleeps
    const ms = await elapsed(() => signal.sleep(20_000));
    assert.ok(ms >= 35 && ms < 1_000, `slept ${ms.toFixed(0)} ms; due after about 40`);
    // Consumed: the sleep after it lasts as asked.
    assert.ok((await elapsed(() => signal.sleep(60))) >= 55);
  });

  it('does not lengthen a shorter sleep, and wake() still ends one at once', async () => {
    const signal = createWakeSignal(new AbortController().signal);
    setTimeout(() => signal.wakeIn(5_000), 5);
    assert.ok((await elapsed(() => signal.sleep(50))) < 1_000);
    setTimeout(() => signal.wake(), 10);
    assert.ok((await elapsed(() => signal.sleep(20_000))) < 1_000);
    signal.wake(); // while not sleeping: the next sleep returns at once
    assert.ok((await elapsed(() => signal.sleep(20_000))) < 100);
  });
});
