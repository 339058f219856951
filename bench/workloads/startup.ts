// How long the CLI takes to start, as an operator feels it: the wall time of
// `node bin/provisioner.js token --help` (loading the CLI through tsx and printing help, no database), one
// untimed run first (file cache; not at smoke scale), then the median of the timed runs.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadAverage, round, summarize, type Summary } from '../support/stats.js';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/provisioner.js', import.meta.url));

export interface StartupResult {
  command: string;
  runsMs: number[];
  medianMs: number;
  summary: Summary;
  loadAverageBefore: number;
}

export async function runStartup(runs: number, log: (line: string) => void): Promise<StartupResult> {
  const args = [BIN, 'token', '--help'];
  const once = async () => {
    const t0 = performance.now();
    const { stdout } = await exec(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: '' } });
    const ms = performance.now() - t0;
    if (!/token/i.test(stdout)) throw new Error(`unexpected output of provisioner token --help: ${stdout.slice(0, 200)}`);
    return ms;
  };
  const load0 = loadAverage();
  if (runs > 1) await once(); // warms the file cache; a smoke run (1) skips it
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) runsMs.push(round(await once(), 1));
  const sorted = [...runsMs].sort((a, b) => a - b);
  const medianMs =
    sorted.length % 2 === 1
      ? (sorted[(sorted.length - 1) / 2] as number)
      : round(((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2, 1);
  log(`startup: provisioner token --help median ${medianMs} ms over ${runs} runs`);
  return { command: 'node bin/provisioner.js token --help', runsMs, medianMs, summary: summarize(runsMs), loadAverageBefore: load0 };
}
