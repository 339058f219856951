#!/usr/bin/env node
// Runs the compiled CLI (made at `npm ci` by `prepare`, rebuilt on the next start after any source change),
// so commands start fast and never run stale code. If no build can be written (a read-only install),
// the TypeScript sources run through tsx instead: slower, but still current.
import { pathToFileURL } from 'node:url';
import { ensureBuild } from '../scripts/cli-build.mjs';

// Stack traces in logs point at the TypeScript sources (the build has linked source maps).
process.setSourceMapsEnabled(true);

let main;
try {
  main = await ensureBuild();
} catch (e) {
  process.stderr.write(`provisioner: cannot build the CLI (${e instanceof Error ? e.message : e}); running the sources through tsx\n`);
  const { register } = await import('tsx/esm/api');
  register();
  main = new URL('../src/cli/main.ts', import.meta.url).href;
}
await import(main.startsWith('file:') ? main : pathToFileURL(main).href);
