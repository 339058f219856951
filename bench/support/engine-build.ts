// The engine process as users run it: compiled, as the CLI runs `provisioner serve` (scripts/cli-build.mjs),
// not through tsx, whose loader thread and transformed sources add ~50 MB to an idle engine's RSS (164 vs
// 215 MB, measured 2026-12-01): the harness's memory, not Provisioner's. Files are transpiled one by one
// into bench/tmp/engine-build/ under their own paths (no bundle), so CPU profiles still name src/ files.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ENGINE_BUILD_DIR = 'bench/tmp/engine-build';

let built: Promise<string> | null = null;

/** Transpiles src/ and the engine process once per bench run; returns the engine process's file. */
export function compiledEngine(): Promise<string> {
  built ??= (async () => {
    const outdir = join(ROOT, ENGINE_BUILD_DIR);
    const sources = readdirSync(join(ROOT, 'src'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(ROOT, 'src', f));
    await build({
      entryPoints: [...sources, join(ROOT, 'bench/engine-process.ts'), join(ROOT, 'bench/support/rpc.ts')],
      outdir,
      outbase: ROOT,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'error',
    });
    // Plain JavaScript already, and loaded by its own name (also preloaded with --import).
    mkdirSync(join(outdir, 'bench/support'), { recursive: true });
    copyFileSync(join(ROOT, 'bench/support/statement-meter.mjs'), join(outdir, 'bench/support/statement-meter.mjs'));
    return join(outdir, 'bench/engine-process.js');
  })();
  return built;
}
