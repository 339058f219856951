import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Keeps `npm run bench` working: a smoke-scale run on SQLite into a temp directory. Performance is never
// asserted here (issue 5); only that every workload ran and produced numbers.
const exec = promisify(execFile);

const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

describe('the benchmark harness', () => {
  const out = mkdtempSync(join(tmpdir(), 'prov-bench-smoke-'));
  const profiles = mkdtempSync(join(tmpdir(), 'prov-bench-profiles-'));
  after(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(profiles, { recursive: true, force: true });
  });

  it('runs every workload at smoke scale on SQLite and writes numeric results as JSON and markdown', { timeout: 120_000 }, async () => {
    await exec(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--scale=smoke', '--dialects=sqlite', `--out=${out}`, `--cpu-prof=${profiles}`],
      {
        // Only the flags above decide the run: BENCH_* variables of the caller's shell are left out.
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BENCH_'))),
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const files = readdirSync(out).sort();
    assert.equal(files.length, 2, `expected one .json and one .md, got ${files.join(', ')}`);
    assert.match(files[0] as string, /^\d{4}-\d{2}-\d{2}\.json$/);
    assert.match(files[1] as string, /^\d{4}-\d{2}-\d{2}\.md$/);
    const report = JSON.parse(readFileSync(join(out, files[0] as string), 'utf8'));
    assert.equal(report.scale, 'smoke');
    const sqlite = report.results.sqlite;

    assert.ok(finite(sqlite.ceiling.commitsPerS), 'ceiling: commits/s');
    for (const k of ['workflowsPerS', 'stepsPerS', 'drainS', 'statementsPerStep', 'engineCpuPercent'])
      assert.ok(finite(sqlite.throughput[k]), `throughput: ${k}`);
    assert.equal(sqlite.throughput.ended.completed, sqlite.throughput.workflows, 'every throughput workflow completed');
    assert.ok(
      sqlite.throughput.steady.steps > 0 && sqlite.throughput.steady.toS > sqlite.throughput.steady.fromS,
      'throughput: a steady-state window',
    );
    assert.ok(finite(sqlite.throughput.callbacks.callbacks429), 'throughput: 429s from the callback rate limit are counted');
    for (const k of ['peakRssMb', 'maxRssMb']) assert.ok(finite(sqlite.memory[k]), `memory: ${k}`);
    for (const k of ['callbackToNextStep', 'idleWorkflow']) {
      assert.ok(sqlite.latency[k].n > 0, `latency: ${k} has samples`);
      assert.ok(finite(sqlite.latency[k].p50) && finite(sqlite.latency[k].p99), `latency: ${k} p50/p99`);
    }
    for (const e of ['status', 'list', 'detail']) {
      const f = sqlite.reads.endpoints[e];
      assert.ok(finite(f.latency.p50) && finite(f.latency.p99) && f.latency.n > 0, `reads: ${e} p50/p99`);
      assert.equal(f.non2xx, 0, `reads: ${e} answered 2xx only`);
    }
    assert.match(sqlite.peer.skipped, /PostgreSQL/, 'the peer is recorded as skipped on SQLite');
    assert.ok(finite(report.startup.medianMs), 'startup: provisioner token --help was timed');
    const markdown = readFileSync(join(out, files[1] as string), 'utf8');
    assert.match(markdown, /throughput: steps\/s/);

    // Profiles come from a second pass after each measured one, never from the measured run itself.
    assert.equal(sqlite.throughput.profiledDrain.workflows, sqlite.throughput.workflows, 'a second drain ran under the profiler');
    assert.ok(finite(sqlite.throughput.profiledDrain.stepsPerS), 'its rate is kept apart');
    for (const f of ['throughput-sqlite.cpuprofile', 'latency-sqlite.cpuprofile', 'reads-sqlite.cpuprofile'])
      assert.ok(readdirSync(profiles).includes(f), `profile ${f} written`);
    assert.match(markdown, /What the engine spent its CPU on/);
    assert.match(markdown, /measured without V8's sampling profiler/);
  });
});
