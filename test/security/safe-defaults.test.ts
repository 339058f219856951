import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config.js';
import { TEST_SECRET_KEY } from '../support/runtime.js';

const BIN = fileURLToPath(new URL('../../bin/provisioner.js', import.meta.url));

/** Runs `provisioner serve` with only `env` (no inherited secrets) and returns how it ended. */
function serve(env: Record<string, string>, dataDir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const clean: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PROVISIONER_DATA_DIR: dataDir,
      DATABASE_URL: `sqlite:${join(dataDir, 'p.db')}`,
      PORT: '0',
      ...env,
    };
    const proc = spawn(process.execPath, [BIN, 'serve'], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += String(d);
    });
    proc.stderr.on('data', (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`serve did not exit: ${out.slice(-2000)}`));
    }, 60_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Issue 11 finding 8: outside `demo`, no generated secrets, no short secrets, no printed tokens. */
describe('safe start-up defaults', () => {
  it('refuses to serve without explicit secrets, saying how to make them, and prints no token', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-safe-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await serve({}, dir);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /PROVISIONER_JWT_SECRET \(or PROVISIONER_JWKS_URL\) is required/);
    assert.match(r.out, /PROVISIONER_SECRET_KEY is required/);
    assert.match(r.out, /openssl rand -base64 32/);
    assert.doesNotMatch(r.out, /eyJ[A-Za-z0-9_-]+\./, 'no token printed');
  });

  it('refuses a JWT secret shorter than 32 bytes without echoing it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-safe-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await serve({ PROVISIONER_JWT_SECRET: 'k', PROVISIONER_SECRET_KEY: TEST_SECRET_KEY }, dir);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /PROVISIONER_JWT_SECRET: 1 bytes is too short .* at least 32/);
    assert.throws(
      () => loadConfig({ PROVISIONER_JWT_SECRET: 'short-secret', PROVISIONER_SECRET_KEY: TEST_SECRET_KEY }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('short-secret'),
    );
  });

  it('keeps generating development secrets for demo, token and tests (the default)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-safe-'));
    try {
      const c = loadConfig({ PROVISIONER_DATA_DIR: dir });
      assert.equal(c.devSecretsGenerated, true);
      assert.throws(() => loadConfig({ PROVISIONER_DATA_DIR: dir }, { devSecrets: false }), ConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
