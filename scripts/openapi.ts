// Writes the OpenAPI document (what GET /openapi.json serves) to a file, without listening:
// `npm run openapi [-- out.json]` (default dist/openapi.json). The linters in .ci/run check this file.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadConfig } from '../src/config.js';
import { createRuntime } from '../src/runtime.js';
import { buildServer } from '../src/http/server.js';

const out = resolve(process.argv[2] ?? 'dist/openapi.json');
const dir = await mkdtemp(join(tmpdir(), 'provisioner-openapi-'));
try {
  const config = loadConfig({}, { dataDir: dir, databaseUrl: `sqlite:${join(dir, 'openapi.db')}` });
  const runtime = await createRuntime(config, { executor: false });
  try {
    const app = await buildServer(runtime);
    await app.ready();
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(app.swagger(), null, 2)}\n`);
    await app.close();
  } finally {
    await runtime.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write(`wrote ${out}\n`);
