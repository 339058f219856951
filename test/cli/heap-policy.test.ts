import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { applyHeapPolicy } from '../../src/cli/heap-policy.js';

describe('heap growth policy', () => {
  const withDir = (fn: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-heap-'));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('lets the heap grow to 1.5× what a collection left alive by default, configurable, 0 for V8 own', () => {
    withDir((dir) => {
      assert.equal(loadConfig({ PROVISIONER_DATA_DIR: dir }).heapGrowingPercent, 50);
      assert.equal(loadConfig({ PROVISIONER_DATA_DIR: dir, PROVISIONER_HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent, 0);
      assert.equal(loadConfig({ PROVISIONER_DATA_DIR: dir, PROVISIONER_HEAP_GROWING_PERCENT: '120' }).heapGrowingPercent, 120);
    });
  });

  it('refuses a value that is not a percentage it can use, naming the variable', () => {
    withDir((dir) => {
      for (const bad of ['-5', '500', 'lots'])
        assert.throws(
          () => loadConfig({ PROVISIONER_DATA_DIR: dir, PROVISIONER_HEAP_GROWING_PERCENT: bad }),
          (e: unknown) => e instanceof ConfigError && /PROVISIONER_HEAP_GROWING_PERCENT/.test(e.message),
        );
    });
  });

  it("sets V8's heap growing factor, and leaves it alone at 0", () => {
    const set: string[] = [];
    applyHeapPolicy(50, (f) => set.push(f));
    applyHeapPolicy(0, (f) => set.push(f));
    assert.deepEqual(set, ['--heap-growing-percent=50']);
  });
});
