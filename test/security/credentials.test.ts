import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { createRuntime, LOGGER_OPTIONS, type Runtime } from '../../src/runtime.js';
import { buildServer } from '../../src/http/server.js';
import { signToken, type TokenClaims } from '../../src/auth/token-signer.js';
import { createCredentialCipher, keyId } from '../../src/engine/credential-cipher.js';
import { rotateCredentialKeys } from '../../src/engine/key-rotation.js';
import { createWebhookAdmin } from '../../src/engine/webhooks.js';
import { eventually, freshDatabaseUrl, testConfig, testDialects, TEST_JWT_SECRET } from '../support/runtime.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { ADMIN, REGISTRAR, tenantAdmin, tenantReader } from '../support/api.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/provisioner.js', import.meta.url));

/** Secrets distinctive enough that finding them anywhere is a leak, not a coincidence. */
const HTTP_SECRET = `pw-${randomBytes(9).toString('hex')}`;
const CALLBACK_SECRET = `key-${randomBytes(9).toString('hex')}`;
const newKey = () => randomBytes(32).toString('base64');

/** Every log line of a runtime and its HTTP app, at debug level, through the runtime's own redaction. */
function capturedLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = pino({ level: 'debug', ...LOGGER_OPTIONS }, sink);
  return { log, text: () => lines.join('') };
}

interface Node {
  rt: Runtime;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** One replica on `databaseUrl` with the given keys: what a restart with new configuration gives. */
async function startNode(
  databaseUrl: string,
  keys: { current: string; old?: string[] },
  log?: pino.Logger,
  executor = true,
): Promise<Node> {
  const config = testConfig(databaseUrl, {
    PROVISIONER_SECRET_KEY: keys.current,
    PROVISIONER_OLD_SECRET_KEYS: (keys.old ?? []).join(','),
    PROVISIONER_WEBHOOK_RETRY_SCHEDULE: '0.05',
  });
  const rt = await createRuntime(config, { ...(log ? { log } : {}), executor });
  rt.executor?.start();
  rt.webhooks?.start();
  const app = await buildServer(rt);
  await app.ready();
  return {
    rt,
    app,
    async close() {
      await app.close();
      await rt.close(200);
    },
  };
}

async function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT', url: string, as: TokenClaims | null, payload?: object) {
  const headers: Record<string, string> = as ? { authorization: `Bearer ${await signToken(TEST_JWT_SECRET, as, '1h')}` } : {};
  const res = await app.inject({ method, url, headers, payload });
  return { status: res.statusCode, json: res.json(), text: res.body };
}

function manifest(sim: ServiceSim) {
  return {
    slug: 'vault',
    name: 'Vault',
    version: '1.0.0',
    base_url: sim.url,
    provision: [
      { name: 'create_account', type: 'http', request: { path: '/accounts' } },
      {
        name: 'issue_key',
        type: 'callback',
        depends_on: ['create_account'],
        request: { path: '/keys', body: { callback_token: '{{callback.token}}', account: '{{steps.create_account.output.id}}' } },
        wait: { timeout_s: 30 },
      },
    ],
  };
}

for (const dialect of testDialects()) {
  describe(`credentials at rest, in transit and in logs (${dialect})`, () => {
    it('keeps credentials out of logs, lists, details, events, outbox and webhooks, and audits every reveal', async (t) => {
      const db = await freshDatabaseUrl(dialect);
      const sim = await startServiceSim();
      t.after(async () => {
        await sim.close();
        await db.drop();
      });
      sim.route('POST', '/accounts', { status: 201, json: { id: 'acc-7', credentials: { password: HTTP_SECRET } } });
      sim.route('POST', '/keys', { status: 202 });
      sim.route('POST', '/hooks', { status: 200 });
      const logs = capturedLogger();
      const node = await startNode(db.url, { current: newKey() }, logs.log);
      try {
        await createWebhookAdmin({ store: node.rt.store, cipher: node.rt.cipher }).createSubscription({
          targetUrl: `${sim.url}/hooks`,
          secret: 'whsec-0123456789abcdef',
          topics: ['provisioning.*'],
          actor: 'test',
        });
        assert.equal((await call(node.app, 'POST', '/api/v1/registry/register', REGISTRAR, manifest(sim))).status, 201);
        const start = await call(node.app, 'POST', '/api/v1/provisioning/workflows', tenantAdmin('acme'), { service_slug: 'vault' });
        assert.equal(start.status, 201, start.text);
        const id = start.json.data.id as string;
        const keyReq = await sim.waitFor((r) => r.path === '/keys', 5000);
        const token = (keyReq.body as { callback_token: string }).callback_token;
        await eventually(
          'the wait',
          async () =>
            (await call(node.app, 'GET', `/api/v1/provisioning/workflows/${id}`, tenantReader('acme'))).json.data.steps[1].status ===
            'waiting_callback',
        );
        const cb = await call(node.app, 'POST', '/api/v1/provisioning/callback', null, {
          callback_token: token,
          status: 'completed',
          endpoint: 'https://vault.example/acme',
          credentials: { api_key: CALLBACK_SECRET },
        });
        assert.equal(cb.status, 200, cb.text);
        await eventually(
          'the workflow to complete',
          async () =>
            (await call(node.app, 'GET', `/api/v1/provisioning/workflows/${id}`, tenantReader('acme'))).json.data.status === 'completed',
        );
        await eventually('the completion webhook', async () =>
          sim.requests.some((r) => r.path === '/hooks' && JSON.stringify(r.body).includes('provisioning.workflow.completed')),
        );

        const reveal = await call(node.app, 'GET', '/api/v1/provisioning/status/vault/credentials', tenantAdmin('acme'));
        assert.equal(reveal.status, 200);
        assert.deepEqual(
          reveal.json.data.credentials,
          { password: HTTP_SECRET, api_key: CALLBACK_SECRET },
          'merged from the answer and the callback',
        );
        await call(node.app, 'GET', '/api/v1/provisioning/status/vault/credentials', tenantAdmin('acme'));

        const views = await Promise.all([
          call(node.app, 'GET', '/api/v1/provisioning/workflows', tenantReader('acme')),
          call(node.app, 'GET', `/api/v1/provisioning/workflows/${id}`, tenantReader('acme')),
          call(node.app, 'GET', `/api/v1/provisioning/workflows/${id}/events?limit=500`, tenantReader('acme')),
          call(node.app, 'GET', '/api/v1/provisioning/status/vault', tenantReader('acme')),
          call(node.app, 'GET', '/api/v1/admin/provisioning/workflows', ADMIN),
          call(node.app, 'GET', `/api/v1/admin/provisioning/workflows/${id}`, ADMIN),
          call(node.app, 'GET', `/api/v1/admin/provisioning/workflows/${id}/events?limit=500`, ADMIN),
        ]);
        const tables = [
          'services',
          'service_versions',
          'workflows',
          'steps',
          'events',
          'outbox',
          'webhook_subscriptions',
          'webhook_deliveries',
        ] as const;
        const stored = await Promise.all(
          tables.map(async (name) => [name, JSON.stringify(await node.rt.store.db.selectFrom(name).selectAll().execute())] as const),
        );
        const webhooks = JSON.stringify(sim.requests.filter((r) => r.path === '/hooks').map((r) => r.body));
        const places: [string, string][] = [
          ...views.map((v, i) => [`view ${i}`, v.text] as [string, string]),
          ...stored.map(([name, text]) => [`table ${name}`, text] as [string, string]),
          ['webhook bodies', webhooks],
          ['logs', logs.text()],
        ];
        for (const [where, text] of places) {
          for (const secret of [HTTP_SECRET, CALLBACK_SECRET, token])
            assert.ok(!text.includes(secret), `${secret.slice(0, 6)}… leaked into ${where}`);
        }
        assert.ok(
          stored.find(([n]) => n === 'outbox')?.[1].includes('provisioning.workflow.completed'),
          'the outbox was looked at, not empty',
        );
        assert.ok(logs.text().includes('"level":20') || logs.text().includes('incoming request'), 'the logs were captured at debug level');

        const events = views[2].json.data as { type: string; actor: string | null }[];
        const reveals = events.filter((e) => e.type === 'credentials.revealed');
        assert.equal(reveals.length, 2, 'each reveal is one audit event');
        assert.equal(reveals[0].actor, 'acme-admin');
      } finally {
        await node.close();
      }
    });

    it('redacts credentials, tokens and secrets that reach a log call', () => {
      const lines: string[] = [];
      const log = pino(
        { level: 'debug', ...LOGGER_OPTIONS },
        new Writable({
          write(c: Buffer, _e, d) {
            lines.push(c.toString());
            d();
          },
        }),
      );
      log.info({ credentials: { password: HTTP_SECRET } }, 'top level');
      log.info({ report: { credentials: { password: HTTP_SECRET }, callback_token: CALLBACK_SECRET } }, 'nested');
      log.info({ sub: { token: CALLBACK_SECRET, secret: HTTP_SECRET } }, 'token and secret');
      log.info({ req: { headers: { authorization: `Bearer ${CALLBACK_SECRET}`, cookie: `s=${HTTP_SECRET}` } } }, 'request');
      const text = lines.join('');
      assert.equal(lines.length, 4);
      assert.ok(!text.includes(HTTP_SECRET) && !text.includes(CALLBACK_SECRET), text);
      assert.equal((text.match(/\[redacted\]/g) ?? []).length, 7);
    });

    it('keeps a callback token minted under the old key working after a restart with a new key', async (t) => {
      const db = await freshDatabaseUrl(dialect);
      const sim = await startServiceSim();
      t.after(async () => {
        await sim.close();
        await db.drop();
      });
      sim.route('POST', '/accounts', { status: 201, json: { id: 'acc-1' } });
      sim.route('POST', '/keys', { status: 202 });
      const [keyA, keyB] = [newKey(), newKey()];

      // Started under A: the step's token (and its stored hash) come from A. No worker runs yet.
      let node = await startNode(db.url, { current: keyA }, undefined, false);
      let id: string;
      try {
        assert.equal((await call(node.app, 'POST', '/api/v1/registry/register', REGISTRAR, manifest(sim))).status, 201);
        const start = await call(node.app, 'POST', '/api/v1/provisioning/workflows', tenantAdmin('acme'), { service_slug: 'vault' });
        id = start.json.data.id;
      } finally {
        await node.close();
      }

      // Restarted with B current and A old: the request carries the token the stored hash knows.
      node = await startNode(db.url, { current: keyB, old: [keyA] });
      try {
        const req = await sim.waitFor((r) => r.path === '/keys', 10_000);
        await eventually(
          'the wait',
          async () =>
            (await call(node.app, 'GET', `/api/v1/provisioning/workflows/${id}`, tenantReader('acme'))).json.data.steps[1].status ===
            'waiting_callback',
        );
        const cb = await call(node.app, 'POST', '/api/v1/provisioning/callback', null, {
          callback_token: (req.body as { callback_token: string }).callback_token,
          status: 'completed',
        });
        assert.equal(cb.status, 200, cb.text);
        assert.equal(cb.json.data.step_status, 'completed');
      } finally {
        await node.close();
      }
    });

    it('reads credentials after a restart with a new key (old one listed), re-encrypts them (function and CLI), and then needs only the new key', async (t) => {
      const db = await freshDatabaseUrl(dialect);
      const sim = await startServiceSim();
      t.after(async () => {
        await sim.close();
        await db.drop();
      });
      sim.route('POST', '/accounts', { status: 201, json: { id: 'acc-9', credentials: { password: HTTP_SECRET } } });
      const single = {
        slug: 'vault',
        name: 'Vault',
        version: '1.0.0',
        base_url: sim.url,
        provision: [{ name: 'create_account', type: 'http', request: { path: '/accounts' } }],
      };
      const [keyA, keyB, keyC] = [newKey(), newKey(), newKey()];
      const kid = (k: string) => keyId(Buffer.from(k, 'base64'));
      const storedCiphertext = async (n: Node) =>
        (await n.rt.store.db.selectFrom('workflows').select('credentials').where('credentials', 'is not', null).executeTakeFirstOrThrow())
          .credentials as string;
      const reveal = async (n: Node) => call(n.app, 'GET', '/api/v1/provisioning/status/vault/credentials', tenantAdmin('acme'));

      // Key A encrypts.
      let node = await startNode(db.url, { current: keyA });
      let underA: string;
      try {
        assert.equal((await call(node.app, 'POST', '/api/v1/registry/register', REGISTRAR, single)).status, 201);
        const start = await call(node.app, 'POST', '/api/v1/provisioning/workflows', tenantAdmin('acme'), { service_slug: 'vault' });
        await eventually(
          'completion',
          async () =>
            (await call(node.app, 'GET', `/api/v1/provisioning/workflows/${start.json.data.id}`, tenantReader('acme'))).json.data.status ===
            'completed',
        );
        underA = await storedCiphertext(node);
        assert.equal(JSON.parse(underA).kid, kid(keyA), 'the ciphertext names its key');
        assert.ok(!underA.includes(HTTP_SECRET));
      } finally {
        await node.close();
      }

      // B alone cannot read A's ciphertext, and says what to configure.
      assert.throws(() => createCredentialCipher(keyB).decrypt(underA), /PROVISIONER_OLD_SECRET_KEYS/);

      // Restart with B current and A old: reads work; rotation re-encrypts once.
      node = await startNode(db.url, { current: keyB, old: [keyA] });
      try {
        const r = await reveal(node);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.data.credentials, { password: HTTP_SECRET });
        const none = { total: 0, reencrypted: 0 };
        assert.deepEqual(
          await rotateCredentialKeys(node.rt.store, node.rt.cipher),
          { total: 1, reencrypted: 1, webhookSecrets: none, signingSecrets: { total: 1, reencrypted: 1 } },
          "the service's signing secret is rotated too",
        );
        assert.deepEqual(
          await rotateCredentialKeys(node.rt.store, node.rt.cipher),
          { total: 1, reencrypted: 0, webhookSecrets: none, signingSecrets: { total: 1, reencrypted: 0 } },
          'a second run has nothing left to do',
        );
        assert.equal(JSON.parse(await storedCiphertext(node)).kid, kid(keyB));
      } finally {
        await node.close();
      }

      // The CLI does the same from the environment: C current, only B old. A is no longer listed, so
      // this run would fail on anything still under A.
      const env = {
        ...process.env,
        DATABASE_URL: db.url,
        PROVISIONER_SECRET_KEY: keyC,
        PROVISIONER_OLD_SECRET_KEYS: keyB,
        PROVISIONER_JWT_SECRET: TEST_JWT_SECRET,
        PROVISIONER_DATA_DIR: testConfig(db.url).dataDir,
        LOG_LEVEL: 'debug',
      };
      const cli = await run(process.execPath, [BIN, 'keys', 'rotate'], { env, timeout: 45_000 });
      assert.match(cli.stdout, new RegExp(`re-encrypted 1 of 1 credential sets with key ${kid(keyC)}`));
      assert.ok(!`${cli.stdout}${cli.stderr}`.includes(HTTP_SECRET), 'the CLI prints no credential');

      // Only C is left.
      node = await startNode(db.url, { current: keyC });
      try {
        const r = await reveal(node);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.data.credentials, { password: HTTP_SECRET });
      } finally {
        await node.close();
      }
    });
  });
}
