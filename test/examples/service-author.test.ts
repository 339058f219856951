// The service author's path, end to end: the example Files service built on packages/service-client,
// its manifest checked offline by `provisioner services validate`, then provisioned, rolled back and
// deprovisioned through the CLI and the API of a real Provisioner on loopback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startApi, type ApiHarness } from '../support/api.js';
import { eventually, TEST_JWT_SECRET, TEST_SECRET_KEY } from '../support/runtime.js';
import type { FilesService, FilesServiceOptions } from '../../examples/simulator/files-service.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/provisioner.js');
const MANIFEST = join(ROOT, 'examples/services/files.yaml');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('a service author builds the Files service on the client package and runs it through Provisioner', () => {
  let dir: string;
  let files: FilesService;
  let api: ApiHarness;
  let base: string;
  const cli = (args: string[]) =>
    run(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, PROVISIONER_JWT_SECRET: TEST_JWT_SECRET, PROVISIONER_SECRET_KEY: TEST_SECRET_KEY, PROVISIONER_URL: base },
      timeout: 60_000,
    });
  const asToken = async (token: string, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: typeof payload === 'string' ? payload : payload === undefined ? undefined : JSON.stringify(payload),
    });
    return { status: res.status, json: (await res.json()) as any };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'service-author-'));
    // "Builds the example service on the package": bundle it (the package included) and run the bundle.
    await build({
      entryPoints: [join(ROOT, 'examples/simulator/files-service.ts')],
      outfile: join(dir, 'files-service.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      logLevel: 'error',
    });
    const { startFilesService } = (await import(pathToFileURL(join(dir, 'files-service.mjs')).href)) as {
      startFilesService: (o: FilesServiceOptions) => Promise<FilesService>;
    };
    files = await startFilesService({ port: 0, callbackDelayMs: 50, pollsUntilReady: 2 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = await startApi('sqlite', { PORT: String(port), PUBLIC_URL: base });
    await api.app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await api?.close();
    await files?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('validates the manifest offline, then provisions, rolls back and deprovisions', async () => {
    const validated = await cli(['services', 'validate', MANIFEST]);
    assert.match(validated.stdout, /files\.yaml: ok/);
    const text = await readFile(MANIFEST, 'utf8');
    assert.match(text, /^# yaml-language-server: \$schema=.*\/api\/v1\/registry\/manifest-schema\.json$/m);

    // Register the YAML as written (base_url pointed at this run's Files), as a registry admin.
    const admin = (
      await cli(['token', '--permission', 'admin:registry', '--permission', 'admin:provisioning', '--sub', 'ops'])
    ).stdout.trim();
    const manifest = { ...parseYaml(text), base_url: files.url };
    const registered = await asToken(admin, 'PUT', '/api/v1/registry/register', toYaml(manifest), { 'content-type': 'application/yaml' });
    assert.equal(registered.status, 201, JSON.stringify(registered.json));
    const broken = {
      ...manifest,
      slug: 'files-broken',
      provision: [
        ...manifest.provision,
        { name: 'fail', type: 'http', depends_on: ['issue_keys'], request: { path: '/no-such-route' }, retry: { max_attempts: 1 } },
      ],
    };
    assert.equal((await asToken(admin, 'PUT', '/api/v1/registry/register', broken)).status, 201);
    const listed = (await cli(['services', 'list', '--token', admin])).stdout;
    assert.match(listed, /^files-broken /m);
    assert.match(listed, /^files /m);

    // Without --sub a token names whoever ran the CLI, never a shared "cli".
    const plain = (await cli(['token', '--tenant', 'acme'])).stdout.trim();
    const claims = JSON.parse(Buffer.from(plain.split('.')[1], 'base64url').toString('utf8')) as { sub: string };
    assert.equal(claims.sub, userInfo().username);

    // A tenant's token from the CLI names its actor in the audit history.
    const tenant = (await cli(['token', '--tenant', 'acme', '--role', 'tenant_admin', '--sub', 'alice@acme'])).stdout.trim();
    const started = await asToken(tenant, 'POST', '/api/v1/provisioning/workflows', { service_slug: 'files' });
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const wf = started.json.data.id;
    const done = await eventually(
      'files provisioned',
      async () => {
        const d = (await asToken(tenant, 'GET', `/api/v1/provisioning/workflows/${wf}`)).json.data;
        return d.status === 'completed' ? d : null;
      },
      20_000,
    );
    assert.match(done.endpoint, /^https:\/\/files\.example\//);
    const events = (await asToken(tenant, 'GET', `/api/v1/provisioning/workflows/${wf}/events`)).json.data;
    assert.equal(events.find((e: { type: string }) => e.type === 'workflow.created').actor, 'alice@acme');
    const creds = await asToken(tenant, 'GET', '/api/v1/provisioning/status/files/credentials');
    assert.equal(creds.status, 200);
    assert.equal(files.stats().keys, 1);

    // The broken variant fails at its last step and rolls back every compensation.
    const rb = await asToken(tenant, 'POST', '/api/v1/provisioning/workflows', { service_slug: 'files-broken' });
    assert.equal(rb.status, 201);
    await eventually(
      'files-broken rolled back',
      async () => (await asToken(tenant, 'GET', `/api/v1/provisioning/workflows/${rb.json.data.id}`)).json.data.status === 'rolled_back',
      20_000,
    );
    assert.deepEqual(
      { accounts: files.stats().accounts, keys: files.stats().keys, buckets: files.stats().buckets },
      { accounts: 1, keys: 1, buckets: 1 },
    );

    // Deprovision: the compensations in reverse order; then the service can be removed through the CLI.
    const dep = await asToken(tenant, 'POST', '/api/v1/provisioning/workflows', { service_slug: 'files', kind: 'deprovision' });
    assert.equal(dep.status, 201, JSON.stringify(dep.json));
    await eventually(
      'files deprovisioned',
      async () => (await asToken(tenant, 'GET', `/api/v1/provisioning/workflows/${dep.json.data.id}`)).json.data.status === 'completed',
      20_000,
    );
    assert.deepEqual(
      { accounts: files.stats().accounts, keys: files.stats().keys, buckets: files.stats().buckets },
      { accounts: 0, keys: 0, buckets: 0 },
    );
    const shown = await cli([
      'workflows',
      'show',
      dep.json.data.id,
      '--database-url',
      `sqlite:${(api.rt.config.database as { path: string }).path}`,
    ]);
    assert.match(shown.stdout, /deprovision files/);
    await cli(['services', 'remove', 'files-broken', '--reason', 'test variant', '--token', admin]);
    assert.doesNotMatch((await cli(['services', 'list', '--token', admin])).stdout, /files-broken/);
  });
});
