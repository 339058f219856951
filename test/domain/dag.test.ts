import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ancestorsOf, findCycle, reverseDependencyOrder, topologicalOrder } from '../../src/domain/dag.js';

const step = (name: string, ...depends_on: string[]) => ({ name, depends_on });

describe('ancestorsOf', () => {
  it('includes transitive dependencies and never the step itself', () => {
    const a = ancestorsOf([step('a'), step('b', 'a'), step('c', 'b'), step('d', 'a', 'c')]);
    assert.deepEqual([...(a.get('a') ?? [])], []);
    assert.deepEqual(new Set(a.get('c')), new Set(['a', 'b']));
    assert.deepEqual(new Set(a.get('d')), new Set(['a', 'b', 'c']));
  });

  it('ignores dependencies on unknown steps', () => {
    assert.deepEqual(new Set(ancestorsOf([step('a', 'ghost')]).get('a')), new Set());
  });

  it('terminates on a cycle', () => {
    const a = ancestorsOf([step('a', 'b'), step('b', 'a')]);
    assert.deepEqual(new Set(a.get('a')), new Set(['a', 'b']));
  });
});

describe('findCycle', () => {
  it('returns null for a DAG', () => {
    assert.equal(findCycle([step('a'), step('b', 'a'), step('c', 'a', 'b')]), null);
  });

  it('lists the cycle so that each step depends on the next and the last on the first', () => {
    const cycle = findCycle([step('x'), step('a', 'c', 'x'), step('b', 'a'), step('c', 'b')]);
    assert.deepEqual(cycle, ['a', 'c', 'b']);
  });

  it('reports a self-dependency as a cycle of one', () => {
    assert.deepEqual(findCycle([step('a', 'a')]), ['a']);
  });
});

describe('topologicalOrder', () => {
  it('puts parents before children and keeps manifest order among independent steps', () => {
    const order = topologicalOrder([step('d', 'b', 'c'), step('c', 'a'), step('b', 'a'), step('a')]);
    assert.deepEqual(order, ['a', 'c', 'b', 'd']);
  });

  it('throws naming the cycle', () => {
    assert.throws(() => topologicalOrder([step('a', 'b'), step('b', 'a')]), /dependency cycle: a → b/);
  });
});

describe('reverseDependencyOrder', () => {
  it('puts children before parents, for rollback', () => {
    const order = reverseDependencyOrder([
      step('account'),
      step('bucket', 'account'),
      step('index', 'account'),
      step('keys', 'bucket', 'index'),
    ]);
    assert.deepEqual(order, ['keys', 'index', 'bucket', 'account']);
  });
});
