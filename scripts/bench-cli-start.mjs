// Wall time of `provisioner token --help` (the CLI's start-up), a few runs after one warm-up that
// also makes sure the compiled build exists. `node scripts/bench-cli-start.mjs [runs]`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/provisioner.js', import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const once = () => {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'token', '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
};
once();
const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
process.stdout.write(`provisioner token --help: median ${median.toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms over ${runs} runs\n`);
