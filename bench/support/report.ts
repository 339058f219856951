// Turns the raw results into figures beside their targets (issue 5), a printed table and a markdown summary.
import type { BenchDialect } from './databases.js';
import type { CeilingResult } from '../workloads/ceiling.js';
import type { LatencyResult, MemoryResult, ThroughputResult } from '../workloads/provisioner.js';
import type { ReadsResult } from '../workloads/reads.js';
import type { PeerResult, PeerResults } from '../workloads/peer.js';
import type { StartupResult } from '../workloads/startup.js';
import { READ_ENDPOINTS } from '../workloads/reads.js';
import { round } from './stats.js';

export interface Skipped {
  skipped: string;
}
export interface Failed {
  error: string;
}
type Outcome<T> = T | Skipped | Failed;

export interface DialectResults {
  ceiling?: Outcome<CeilingResult>;
  throughput?: Outcome<ThroughputResult>;
  memory?: Outcome<MemoryResult>;
  latency?: Outcome<LatencyResult>;
  reads?: Outcome<ReadsResult>;
  peer?: Outcome<PeerResults>;
}

/** A CPU profile of the engine during one workload, summarised (bench/profile-summary.ts). */
export interface ProfileDigest {
  file: string;
  sampledMs: number;
  idleMs: number;
  byActivity: { activity: string; ms: number; percent: number }[];
  topSelf: { name: string; ms: number; percent: number }[];
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
  /** The database, or `cli` for figures that use none. */
  dialect: BenchDialect | 'cli';
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
  startup?: Outcome<StartupResult>;
  /** By "<dialect> <workload>". */
  profiles: Record<string, ProfileDigest>;
  /** 1-, 5- and 15-minute load averages when the run finished. */
  loadAverageAtEnd: number[];
  notes: string[];
  figures: Figure[];
}

export const ok = <T extends object>(r: Outcome<T> | undefined): T | null => (r && !('skipped' in r) && !('error' in r) ? (r as T) : null);

/** Every figure of the run beside its target. */
export function figuresOf(
  results: Partial<Record<BenchDialect, DialectResults>>,
  readsAtFullScale: boolean,
  startup?: Outcome<StartupResult>,
): Figure[] {
  const out: Figure[] = [];
  for (const [dialect, r] of Object.entries(results) as [BenchDialect, DialectResults][]) {
    const ceiling = ok(r.ceiling);
    const tp = ok(r.throughput);
    const mem = ok(r.memory);
    const lat = ok(r.latency);
    const reads = ok(r.reads);
    const peers = ok(r.peer);
    /** `spoiled`: the figure cannot meet its target whatever its value (workflows left unfinished). */
    const add = (figure: string, value: number | null | undefined, unit: string, target = '', note = '', spoiled = false) => {
      const v = value === undefined || value === null || Number.isNaN(value) ? null : value;
      out.push({ dialect, figure, value: v, unit, target, met: target === '' || v === null ? null : meets(v, target) && !spoiled, note });
    };
    const stepsTarget = dialect === 'sqlite' ? 3000 : 1500;
    if (ceiling) add('database ceiling (commits/s)', ceiling.commitsPerS, '/s', '', ceiling.method);
    if (tp) {
      const ofCeiling = ceiling ? `${round((100 * tp.stepsPerS) / ceiling.commitsPerS, 1)} % of the ceiling's commits/s` : '';
      const st = tp.steady;
      const refused =
        tp.callbacks.callbacks429 > 0
          ? `; ${tp.callbacks.callbacks429} callbacks refused with 429 (the callback rate limit), ${tp.callbacks.callbackFailures} given up`
          : '';
      const unfinished = tp.unfinished > 0 ? `; ${tp.unfinished} of ${tp.workflows} workflows unfinished (${tp.settled})` : '';
      add(
        'throughput: steps/s (steady state)',
        tp.stepsPerS,
        '/s',
        `≥ ${stepsTarget}`,
        `${tp.workflows.toLocaleString('en-US')} workflows; step requests ${st.complete ? '' : 'received '}10–90 %, ${st.fromS}–${st.toS} s of ${st.wholeS} s${unfinished}${refused}${ofCeiling ? `; ${ofCeiling}` : ''}`,
        tp.unfinished > 0,
      );
      add('throughput: steps/s (whole drain)', st.wholeStepsPerS, '/s', '', 'first → last step request, warm-up and drain included');
      add(
        'throughput: workflows/s',
        tp.workflowsPerS,
        '/s',
        '',
        `completed over the drain; engine ${tp.engineCpuPercent} % of a core, machine ${tp.machineCpuPercent} % busy, load average ${tp.loadAverageBefore} before`,
      );
      add(
        'callbacks refused with 429 during throughput',
        tp.callbacks.callbacks429,
        '',
        '',
        `of ${tp.callbacks.callbacksSent} sent; ${tp.callbacks.callbackFailures} given up after 5 attempts`,
      );
      add(
        'engine CPU per step',
        tp.engineCpuMsPerStep,
        'ms',
        '',
        `1000 / this = ${round(1000 / tp.engineCpuMsPerStep, 0)} steps/s on one free core`,
      );
      add(
        'SQL statements per step',
        tp.statementsPerStep,
        '',
        '',
        tp.statementsPerStep === null
          ? 'not counted: no statement ran where bench/support/statement-meter.mjs sees it'
          : `counted in the engine process (${dialect === 'sqlite' ? 'better-sqlite3 statements where they run' : 'pg Client#query'}), all threads`,
      );
      if (tp.commitsPerS !== null)
        add(
          'commits/s during throughput',
          tp.commitsPerS,
          '/s',
          '',
          ceiling ? `${round((100 * tp.commitsPerS) / ceiling.commitsPerS, 1)} % of the ceiling` : '',
        );
    }
    if (mem) add('peak RSS during throughput', mem.peakRssMb, 'MB', '≤ 300', '');
    if (lat) {
      const commitMs = ceiling?.singleClientCommitsPerS ? `one commit alone: ${round(1000 / ceiling.singleClientCommitsPerS, 2)} ms` : '';
      const refused = lat.callbacks429 > 0 ? `; ${lat.callbacks429} callbacks refused with 429` : '';
      add(
        'callback → next step p50',
        lat.callbackToNextStep.p50,
        'ms',
        '',
        `${lat.callbackToNextStep.n} samples, ${lat.workflows} workflows started through the API at ${lat.perSecond}/s${refused}; engine ${lat.engineCpuPercent} % of a core, ${lat.engineCpuMsPerStep} ms CPU per step`,
      );
      add(
        'callback → next step p99',
        lat.callbackToNextStep.p99,
        'ms',
        '≤ 20',
        `${commitMs}${commitMs ? '; ' : ''}callback answered → next step p99 ${lat.callbackAnsweredToNextStep.p99} ms`,
      );
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
      add(
        'reads: server CPU per request',
        reads.serverCpuMsPerRequest,
        'ms',
        '',
        `1000 / this = ${round(1000 / reads.serverCpuMsPerRequest, 0)} req/s on one free core`,
      );
    }
    if (peers) {
      for (const [variant, target] of [
        ['default', '≥ 4'],
        ['tuned', '> 1'],
      ] as const) {
        const peer = ok<PeerResult>(peers[variant]);
        if (!peer) continue;
        add(
          `peer (${variant}): steps/s (steady state)`,
          peer.stepsPerS,
          '/s',
          '',
          `${peer.name}; ${peer.steady.fromS}–${peer.steady.toS} s of ${peer.steady.wholeS} s`,
        );
        if (tp) {
          add(
            `Provisioner ÷ peer (${variant}), steps/s`,
            round(tp.stepsPerS / peer.stepsPerS, 2),
            '×',
            target,
            `${tp.stepsPerS} ÷ ${peer.stepsPerS}, steady state, same PostgreSQL and service, ${peer.workflows.toLocaleString('en-US')} workflows each`,
            tp.unfinished > 0,
          );
        }
      }
    }
  }
  const cli = ok(startup);
  if (cli)
    out.push({
      dialect: 'cli',
      figure: 'CLI start-up: provisioner token --help, median',
      value: cli.medianMs,
      unit: 'ms',
      target: '',
      met: null,
      note: `wall time of ${cli.runsMs.length} runs: ${cli.runsMs.join(', ')} ms`,
    });
  return out;
}

function meets(v: number, target: string): boolean {
  const m = /^(≥|≤|>|<) ([\d.]+)$/.exec(target);
  if (!m) return false;
  const t = Number(m[2]);
  return m[1] === '≥' ? v >= t : m[1] === '≤' ? v <= t : m[1] === '>' ? v > t : v < t;
}

const verdict = (f: Figure) => (f.met === null ? '' : f.met ? 'met' : 'MISSED');
const show = (f: Figure) =>
  f.value === null
    ? 'n/a'
    : `${f.value.toLocaleString('en-US', { maximumFractionDigits: 2 })}${f.unit && f.unit !== '/s' ? ` ${f.unit}` : ''}`;

export function printTable(figures: Figure[]): string {
  const rows = [
    ['database', 'figure', 'value', 'target', '', 'note'],
    ...figures.map((f) => [f.dialect, f.figure, show(f), f.target, verdict(f), f.note]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r, n) => {
      const line = r
        .map((c, i) => (i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd();
      return n === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
    })
    .join('\n');
}

export function markdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# Provisioner benchmark, ${report.date} (${report.scale})`,
    '',
    `Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGb} GB RAM, ${m.platform}, Node ${m.node}, SQLite ${m.sqlite}` +
      `${m.postgres ? `, ${m.postgres}` : ''}. Load average when the run started: ${m.loadAverageAtStart}; when it ended (1/5/15 min): ${report.loadAverageAtEnd.join(' / ')}.`,
    '',
    `Run: ${report.startedAt} → ${report.finishedAt}. Steady state = the rate of step requests at the simulated service between the arrival of 10 % and of 90 % of them (start-up, warm-up and the final drain left out).`,
    '',
    `Code: ${m.git ? `${m.git.commit.slice(0, 10)}${m.git.srcDirty ? ' with uncommitted changes in src/' : ''}` : 'not a git checkout'}.`,
    '',
    '| database | figure | value | target | | note |',
    '|---|---|---:|---|---|---|',
    ...report.figures.map((f) => `| ${f.dialect} | ${f.figure} | ${show(f)} | ${f.target} | ${verdict(f)} | ${f.note} |`),
    '',
  ];
  const problems = Object.entries(report.results).flatMap(([d, r]) =>
    Object.entries(r as DialectResults)
      .filter(([, v]) => v && ('error' in v || 'skipped' in v))
      .map(([w, v]) => `- ${d} ${w}: ${'error' in v ? `failed: ${v.error.split('\n')[0]}` : `skipped: ${(v as Skipped).skipped}`}`),
  );
  if (report.startup && 'error' in report.startup) problems.push(`- cli startup: failed: ${report.startup.error.split('\n')[0]}`);
  if (problems.length > 0) lines.push('Not measured:', '', ...problems, '');
  const profiles = Object.entries(report.profiles);
  if (profiles.length > 0) {
    lines.push('## What the engine spent its CPU on (V8 profiles, share of busy time)', '');
    for (const [name, p] of profiles) {
      const busy = p.sampledMs - p.idleMs;
      lines.push(
        `**${name}** (\`${p.file}\`): busy ${busy.toLocaleString('en-US')} ms of ${p.sampledMs.toLocaleString('en-US')} ms sampled.`,
        '',
      );
      lines.push(`- by activity: ${p.byActivity.map((a) => `${a.activity} ${a.percent} %`).join('; ')}`);
      lines.push(
        `- top functions (self time): ${p.topSelf
          .slice(0, 6)
          .map((f) => `\`${f.name}\` ${f.percent} %`)
          .join('; ')}`,
        '',
      );
    }
  }
  if (report.notes.length > 0) lines.push('Notes:', '', ...report.notes.map((n) => `- ${n}`), '');
  lines.push(`Raw figures: \`${report.date}.json\`. Reproduce with \`npm run bench\` (see README, Performance).`, '');
  return lines.join('\n');
}
