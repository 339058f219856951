import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, createLogger } from '../../src/runtime.js';
import { keyId } from '../../src/engine/credential-cipher.js';
import { MissingKeyError, rotateCredentialKeys } from '../../src/engine/key-rotation.js';
import { freshDatabaseUrl, testConfig, testDialects } from '../support/runtime.js';

const K1 = Buffer.alloc(32, 1).toString('base64');
const K2 = Buffer.alloc(32, 2).toString('base64');
const kid = (k: string) => keyId(Buffer.from(k, 'base64'));

/** Issue 11 finding 3: a key that is gone stops the start by name, instead of steps failing forever. */
for (const dialect of testDialects()) {
  describe(`stored keys at start (${dialect})`, () => {
    it('refuses to start when something stored was sealed by a key that is not configured, naming its id; keys rotate checks the same', async (t) => {
      const db = await freshDatabaseUrl(dialect);
      t.after(() => db.drop());
      const open = (env: Record<string, string>) => {
        const config = testConfig(db.url, env);
        return createRuntime(config, { log: createLogger('silent'), executor: false, webhooks: false });
      };
      const first = await open({ PROVISIONER_SECRET_KEY: K1 });
      await first.registry.register({
        slug: 'sealed',
        name: 's',
        version: '1',
        base_url: 'http://127.0.0.1:9',
        provision: [{ name: 'a', type: 'http', request: { path: '/a' } }],
      });
      await first.close(100);

      await assert.rejects(
        open({ PROVISIONER_SECRET_KEY: K2 }),
        (e: unknown) =>
          e instanceof MissingKeyError &&
          e.message.includes(`key id ${kid(K1)}`) &&
          /service signing secrets/.test(e.message) &&
          /PROVISIONER_OLD_SECRET_KEYS/.test(e.message),
      );

      const rotating = await open({ PROVISIONER_SECRET_KEY: K2, PROVISIONER_OLD_SECRET_KEYS: K1 });
      const r = await rotateCredentialKeys(rotating.store, rotating.cipher);
      assert.deepEqual(r.signingSecrets, { total: 1, reencrypted: 1 });
      await rotating.close(100);

      const after = await open({ PROVISIONER_SECRET_KEY: K2 });
      await after.close(100);
      await assert.rejects(
        open({ PROVISIONER_SECRET_KEY: K1 }),
        (e: unknown) => e instanceof MissingKeyError && e.message.includes(kid(K2)),
      );
    });
  });
}
