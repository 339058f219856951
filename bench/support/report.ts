// Turns the raw results into figures beside their targets (issue 5), a printed table and a markdown summary.
import type { BenchDialect } from './databases.js';
import type { CeilingResult } from '../workloads/ceiling.js';
import type { LatencyResult, MemoryResult, ThroughputResult } from '../workloads/provisioner.js';
import type { ReadsResult } from '../workloads/reads.js';
import type { PeerResult } from '../workloads/peer.js';
import { READ_ENDPOINTS } from '../workloads/reads.js';
import { round } from './stats.js';

export interface Skipped { skipped: string }
export interface Failed { error: string }
type Outcome<T> = T | Skipped | Failed;

export interface DialectResults {
  ceiling?: Outcome<CeilingResult>;
  throughput?: Outcome<ThroughputResult>;
  memory?: Outcome<MemoryResult>;
  latency?: Outcome<LatencyResult>;
  reads?: Outcome<ReadsResult>;
  peer?: Outcome<PeerResult>;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  platform: string;
  sqlite: string;
  postgres: string | null;
  /** 1-minute load average when the run started: anything far above 0 means other work shared the machine. */
  loadAverageAtStart: number;
  /** The code measured: HEAD, and whether src/ had uncommitted changes at the time. */
  git: { commit: string; srcDirty: boolean } | null;
}

export interface Figure {
  dialect: BenchDialect;
  figure: string;
  value: number | null;
  unit: string;
  /** e.g. "≥ 3000"; empty for figures given for reference. */
  target: string;
  met: boolean | null;
  /** How the figure compares with the database's own limit or with the peer. */
  note: string;
}

export interface BenchReport {
  date: string;
  startedAt: string;
  finishedAt: string;
  scale: string;
  settings: object;
  machine: Machine;
  results: Partial<Record<BenchDialect, DialectResults>>;
  notes: string[];
  figures: Figure[];
}

export const ok = <T extends object>(r: Outcome<T> | undefined): T | null => (r && !('skipped' in r) && !('error' in r) ? (r as T) : null);

/** Every figure of the run beside its target. */
export function figuresOf(results: Partial<Record<BenchDialect, DialectResults>>, readsAtFullScale: boolean): Figure[] {
  const out: Figure[] = [];
  for (const [dialect, r] of Object.entries(results) as [BenchDialect, DialectResults][]) {
    const ceiling = ok(r.ceiling);
    const tp = ok(r.throughput);
    const mem = ok(r.memory);
    const lat = ok(r.latency);
    const reads = ok(r.reads);
    const peer = ok(r.peer);
    const add = (figure: string, value: number | null | undefined, unit: string, target = '', note = '') => {
      const v = value === undefined || value === null || Number.isNaN(value) ? null : value;
      out.push({ dialect, figure, value: v, unit, target, met: target === '' || v === null ? null : meets(v, target), note });
    };
    const stepsTarget = dialect === 'sqlite' ? 3000 : 1500;
    if (ceiling) add('database ceiling (commits/s)', ceiling.commitsPerS, '/s', '', ceiling.method);
    if (tp) {
      const ofCeiling = ceiling ? `${round((100 * tp.stepsPerS) / ceiling.commitsPerS, 1)} % of the ceiling's commits/s` : '';
      add('throughput: steps/s', tp.stepsPerS, '/s', `≥ ${stepsTarget}`, ofCeiling);
      add('throughput: workflows/s', tp.workflowsPerS, '/s', '', `engine ${tp.engineCpuPercent} % of a core, machine ${tp.machineCpuPercent} % busy, load average ${tp.loadAverageBefore} before`);
      add('engine CPU per step', tp.engineCpuMsPerStep, 'ms', '', `1000 / this = ${round(1000 / tp.engineCpuMsPerStep, 0)} steps/s on one free core`);
      add('SQL statements per step', tp.statementsPerStep, '', '', '');
      if (tp.commitsPerS !== null) add('commits/s during throughput', tp.commitsPerS, '/s', '', ceiling ? `${round((100 * tp.commitsPerS) / ceiling.commitsPerS, 1)} % of the ceiling` : '');
    }
    if (mem) add('peak RSS during throughput', mem.peakRssMb, 'MB', '≤ 300', '');
    if (lat) {
      const commitMs = ceiling?.singleClientCommitsPerS ? `one commit alone: ${round(1000 / ceiling.singleClientCommitsPerS, 2)} ms` : '';
      add('callback → next step p50', lat.callbackToNextStep.p50, 'ms', '', `${lat.callbackToNextStep.n} samples at ${lat.perSecond} workflows/s`);
      add('callback → next step p99', lat.callbackToNextStep.p99, 'ms', '≤ 20', commitMs);
      add('idle workflow start → completed p50', lat.idleWorkflow.p50, 'ms', '', '6 steps, incl. a 10 ms poll interval');
      add('idle workflow start → completed p99', lat.idleWorkflow.p99, 'ms', '', '');
    }
    if (reads) {
      const at = `${reads.workflows.toLocaleString('en-US')} workflows, ${reads.connections} connections, load average ${reads.loadAverageBefore} before`;
      for (const e of READ_ENDPOINTS) {
        const f = reads.endpoints[e];
        add(`reads: ${e} p50`, f.latency.p50, 'ms', '', `${f.requestsPerS} req/s`);
        add(`reads: ${e} p99`, f.latency.p99, 'ms', readsAtFullScale ? '≤ 20' : '', at);
      }
      add('reads: server CPU per request', reads.serverCpuMsPerRequest, 'ms', '', `1000 / this = ${round(1000 / reads.serverCpuMsPerRequest, 0)} req/s on one free core`);
    }
    if (peer) {
      add('peer: steps/s', peer.stepsPerS, '/s', '', peer.name);
      add('peer: workflows/s', peer.workflowsPerS, '/s', '', `peak RSS ${peer.peakRssMb} MB, load average ${peer.loadAverageBefore} before`);
      if (tp) {
        add('Provisioner ÷ peer (workflows/s)', round(tp.workflowsPerS / peer.workflowsPerS, 2), '×', '> 1', 'same PostgreSQL, service and concurrency');
      }
    }
  }
  return out;
}

function meets(v: number, target: string): boolean {
  const m = /^(≥|≤|>|<) ([\d.]+)$/.exec(target);
  if (!m) return false;
  const t = Number(m[2]);
  return m[1] === '≥' ? v >= t : m[1] === '≤' ? v <= t : m[1] === '>' ? v > t : v < t;
}

const verdict = (f: Figure) => (f.met === null ? '' : f.met ? 'met' : 'MISSED');
const show = (f: Figure) => (f.value === null ? 'n/a' : `${f.value.toLocaleString('en-US', { maximumFractionDigits: 2 })}${f.unit && f.unit !== '/s' ? ` ${f.unit}` : ''}`);

export function printTable(figures: Figure[]): string {
  const rows = [['database', 'figure', 'value', 'target', '', 'note'], ...figures.map((f) => [f.dialect, f.figure, show(f), f.target, verdict(f), f.note])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r, n) => {
    const line = r.map((c, i) => (i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
    return n === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
  }).join('\n');
}

export function markdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# Provisioner benchmark, ${report.date} (${report.scale})`,
    '',
    `Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGb} GB RAM, ${m.platform}, Node ${m.node}, SQLite ${m.sqlite}` +
      `${m.postgres ? `, ${m.postgres}` : ''}. Load average when the run started: ${m.loadAverageAtStart}.`,
    '',
    `Code: ${m.git ? `${m.git.commit.slice(0, 10)}${m.git.srcDirty ? ' with uncommitted changes in src/' : ''}` : 'not a git checkout'}.`,
    '',
    '| database | figure | value | target | | note |',
    '|---|---|---:|---|---|---|',
    ...report.figures.map((f) => `| ${f.dialect} | ${f.figure} | ${show(f)} | ${f.target} | ${verdict(f)} | ${f.note} |`),
    '',
  ];
  const problems = Object.entries(report.results).flatMap(([d, r]) => Object.entries(r as DialectResults)
    .filter(([, v]) => v && ('error' in v || 'skipped' in v))
    .map(([w, v]) => `- ${d} ${w}: ${'error' in v ? `failed: ${v.error.split('\n')[0]}` : `skipped: ${(v as Skipped).skipped}`}`));
  if (problems.length > 0) lines.push('Not measured:', '', ...problems, '');
  if (report.notes.length > 0) lines.push('Notes:', '', ...report.notes.map((n) => `- ${n}`), '');
  lines.push(`Raw figures: \`${report.date}.json\`. Reproduce with \`npm run bench\` (see README, Performance).`, '');
  return lines.join('\n');
}
