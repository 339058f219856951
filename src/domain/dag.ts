/**
 * The dependency graph of a workflow's steps. Dependencies on names that are not in `steps` are
 * ignored here: checkManifest reports them, and these functions stay total on any input.
 */

export interface DagNode {
  readonly name: string;
  readonly depends_on: readonly string[];
}

function indexByName(steps: readonly DagNode[]): Map<string, DagNode> {
  const byName = new Map<string, DagNode>();
  for (const s of steps) if (!byName.has(s.name)) byName.set(s.name, s);
  return byName;
}

/** Every step's transitive dependencies (never itself, unless it sits on a cycle). */
export function ancestorsOf(steps: readonly DagNode[]): Map<string, Set<string>> {
  const byName = indexByName(steps);
  const result = new Map<string, Set<string>>();
  for (const step of byName.values()) {
    const seen = new Set<string>();
    const stack = [...step.depends_on];
    for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
      const parent = byName.get(name);
      if (parent === undefined || seen.has(name)) continue;
      seen.add(name);
      stack.push(...parent.depends_on);
    }
    result.set(step.name, seen);
  }
  return result;
}

/**
 * One dependency cycle, or null. The cycle is listed in dependency order: each step depends on the
 * next, and the last depends on the first. Self-dependencies are cycles of one.
 */
export function findCycle(steps: readonly DagNode[]): string[] | null {
  const byName = indexByName(steps);
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];

  const visit = (name: string): string[] | null => {
    state.set(name, 'visiting');
    path.push(name);
    for (const dep of byName.get(name)?.depends_on ?? []) {
      if (!byName.has(dep)) continue;
      const s = state.get(dep);
      if (s === 'visiting') return path.slice(path.indexOf(dep));
      if (s === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };

  for (const name of byName.keys()) {
    if (state.has(name)) continue;
    const found = visit(name);
    if (found) return found;
  }
  return null;
}

/**
 * Parents before children. Among steps that are ready together, manifest order is kept, so the
 * order is stable and readable. Throws on a cycle (a checked manifest has none).
 */
export function topologicalOrder(steps: readonly DagNode[]): string[] {
  const byName = indexByName(steps);
  const remaining = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const s of byName.values()) {
    const deps = new Set(s.depends_on.filter((d) => byName.has(d)));
    remaining.set(s.name, deps.size);
    for (const d of deps) children.set(d, [...(children.get(d) ?? []), s.name]);
  }
  const position = new Map([...byName.keys()].map((n, i) => [n, i]));
  const ready = [...byName.keys()].filter((n) => remaining.get(n) === 0);
  const order: string[] = [];
  for (let name = ready.shift(); name !== undefined; name = ready.shift()) {
    order.push(name);
    for (const child of children.get(name) ?? []) {
      const left = (remaining.get(child) ?? 0) - 1;
      remaining.set(child, left);
      if (left === 0) ready.push(child);
    }
    ready.sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
  }
  if (order.length < byName.size) {
    throw new Error(`dependency cycle: ${(findCycle(steps) ?? []).join(' → ')}`);
  }
  return order;
}

/** Children before parents: the order in which a rollback runs compensations. */
export function reverseDependencyOrder(steps: readonly DagNode[]): string[] {
  return topologicalOrder(steps).reverse();
}
