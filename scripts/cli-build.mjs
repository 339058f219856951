// The compiled CLI: src/cli/main.ts bundled by esbuild into dist/build-<fingerprint>/ (dependencies stay in
// node_modules). The fingerprint covers every source file's path, size and mtime, so a build is used only
// while it matches the sources: an edit makes the next start rebuild (~0.3 s) instead of running stale code.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['src', 'examples/simulator', 'packages/service-client/src'];
const DIST = join(ROOT, 'dist');
const STALE_AFTER_MS = 10 * 60 * 1000;

/** Hash of the sources' paths, sizes and modification times (a few ms for a few hundred files). */
export function fingerprint() {
  const hash = createHash('sha1');
  for (const dir of SOURCES) {
    const abs = join(ROOT, dir);
    if (!existsSync(abs)) continue;
    for (const rel of readdirSync(abs, { recursive: true }).map(String).sort()) {
      if (!rel.endsWith('.ts')) continue;
      const st = statSync(join(abs, rel));
      hash.update(`${dir}/${rel}\0${st.size}\0${st.mtimeMs}\n`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** Builds (if needed) and returns the path of the compiled main module. */
export async function ensureBuild({ quiet = true } = {}) {
  const fp = fingerprint();
  const dir = join(DIST, `build-${fp}`);
  const main = join(dir, 'main.js');
  if (existsSync(main)) return main;
  const { build } = await import('esbuild');
  // Built aside and renamed into place, so concurrent starts never see a half-written build.
  const tmp = join(DIST, `.tmp-${process.pid}-${Date.now()}`);
  await build({
    entryPoints: [join(ROOT, 'src/cli/main.ts')], outdir: tmp, bundle: true, splitting: true, format: 'esm',
    platform: 'node', target: 'node20', packages: 'external', logLevel: quiet ? 'error' : 'info', sourcemap: 'linked',
    // Bundled ESM has no `require`; a dependency that needs it finds one here.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another start built the same sources first
  }
  for (const old of readdirSync(DIST)) {
    const p = join(DIST, old);
    if (p !== dir && /^(build-|\.tmp-)/.test(old) && Date.now() - statSync(p).mtimeMs > STALE_AFTER_MS) rmSync(p, { recursive: true, force: true });
  }
  return main;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const main = await ensureBuild({ quiet: false });
  process.stdout.write(`CLI built: ${main}\n`);
}
