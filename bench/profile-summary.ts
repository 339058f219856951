// Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): the functions with the most self
// time, and the total (inclusive) time per source file and per package, so hot spots read at a glance.
//   node --import tsx bench/profile-summary.ts bench/tmp/profiles/engine-sqlite.cpuprofile [top]
import { readFileSync } from 'node:fs';
import { ENGINE_BUILD_DIR } from './support/engine-build.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  /** Busy time by activity: each sample goes to the first category whose pattern matches a frame on its stack. */
  byActivity: { activity: string; ms: number; percent: number }[];
  selfByFunction: { name: string; ms: number; percent: number }[];
  inclusiveByFile: { file: string; ms: number; percent: number }[];
  inclusiveByPackage: { pkg: string; ms: number; percent: number }[];
}

/**
 * What the engine spends its time on, in precedence order (SQL first: Kysely and the HTTP server call it).
 * Native SQLite time shows up on the nearest JS frame (Kysely's driver, or the bench's statement counter).
 */
const ACTIVITIES: [string, RegExp][] = [
  [
    'SQL: database driver and execution',
    /better-sqlite3|sqlite-driver\.js|postgres-driver\.js|node_modules\/pg(-protocol|-pool)?\/|^\((all|run|get)\)$|bench\/engine-process\.ts/,
  ],
  ['outbound HTTP (fetch / undici)', /deps\/undici|src\/engine\/outbound\.ts/],
  ['Kysely: building and compiling queries', /node_modules\/kysely\//],
  [
    'HTTP server (Fastify: callbacks, reads)',
    /node_modules\/(fastify|find-my-way|avvio|fast-json-stringify|@fastify|ajv|jose)\/|src\/http\//,
  ],
  ['logs and metrics (pino, prom-client)', /node_modules\/(pino|@pinojs|prom-client)|src\/metrics\.ts/],
  ['garbage collector', /garbage collector/],
  ['engine and domain logic (src/)', /^src\//],
];

/** The checkout's root, left out of file names (profiles record absolute URLs). */
const ROOT = `${process.cwd()}/`;

export function summarizeProfile(p: Profile, top = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const fileOf = (f: CallFrame) => {
    const file = f.url
      .replace(/^file:\/\//, '')
      .replace(ROOT, '')
      .replace(/\?.*$/, '');
    // The engine runs compiled (bench/support/engine-build.ts): name its files by their sources.
    const compiled = file.startsWith(`${ENGINE_BUILD_DIR}/`);
    return (compiled ? file.slice(ENGINE_BUILD_DIR.length + 1).replace(/\.js$/, '.ts') : file) || `(${f.functionName || 'native'})`;
  };
  const pkgOf = (f: CallFrame) => {
    const file = fileOf(f);
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    if (m) return m[1] as string;
    if (file.startsWith('src/')) return `src/${file.split('/')[1]}`;
    if (file.startsWith('node:') || file.startsWith('internal')) return 'node (built-in)';
    return file.startsWith('(') ? file : (file.split('/')[0] as string);
  };

  const activity = new Map<string, number>();
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byPkg = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const name = `${f.functionName || '(anonymous)'} ${fileOf(f)}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + us);
    // Inclusive: charge every distinct file / package on the stack once.
    const files = new Set<string>();
    const pkgs = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = (byId.get(cur) as ProfileNode).callFrame;
      if (cf.url) {
        files.add(fileOf(cf));
        pkgs.add(pkgOf(cf));
      }
    }
    if (f.url === '') {
      files.add(fileOf(f));
      pkgs.add(fileOf(f));
    }
    const act =
      ACTIVITIES.find(([, re]) => [...files].some((file) => re.test(file)))?.[0] ?? 'other (Node.js internals: timers, streams, sockets)';
    activity.set(act, (activity.get(act) ?? 0) + us);
    for (const x of files) byFile.set(x, (byFile.get(x) ?? 0) + us);
    for (const x of pkgs) byPkg.set(x, (byPkg.get(x) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ k, ms: Math.round(us / 1000), percent: Math.round((1000 * us) / busy) / 10 }));
  return {
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    byActivity: rank(activity).map(({ k, ms, percent }) => ({ activity: k, ms, percent })),
    selfByFunction: rank(self).map(({ k, ms, percent }) => ({ name: k, ms, percent })),
    inclusiveByFile: rank(byFile).map(({ k, ms, percent }) => ({ file: k, ms, percent })),
    inclusiveByPackage: rank(byPkg).map(({ k, ms, percent }) => ({ pkg: k, ms, percent })),
  };
}

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [file, topRaw] = process.argv.slice(2);
  if (!file) throw new Error('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [top]');
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(topRaw ?? 25));
  const out: string[] = [
    `${file}: ${s.totalMs} ms sampled, ${s.idleMs} ms idle; percentages are of the busy time`,
    '',
    'busy time by activity:',
  ];
  for (const r of s.byActivity) out.push(`  ${String(r.percent).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.activity}`);
  out.push('', 'self time by function:');
  for (const r of s.selfByFunction) out.push(`  ${String(r.percent).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.name}`);
  out.push('', 'inclusive time by package / src directory:');
  for (const r of s.inclusiveByPackage) out.push(`  ${String(r.percent).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.pkg}`);
  out.push('', 'inclusive time by file:');
  for (const r of s.inclusiveByFile) out.push(`  ${String(r.percent).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.file}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
