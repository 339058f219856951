import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { keyId } from '../../src/engine/credential-cipher.js';
import { rotateCredentialKeys } from '../../src/engine/key-rotation.js';
import { freshDatabaseUrl, testConfig, testDialects } from '../support/runtime.js';
import { adminOf, runWorkflow, SECRET, signatureValid, startService } from '../webhooks/helpers.js';
import { startReceiver } from '../webhooks/receiver.js';

const newKey = () => randomBytes(32).toString('base64');
const kid = (k: string) => keyId(Buffer.from(k, 'base64'));

for (const dialect of testDialects()) {
  describe(`key rotation of webhook secrets (${dialect})`, () => {
    it('re-encrypts webhook signing secrets under the current key, and deliveries stay signed with the same secret once the old key is gone', async () => {
      const db = await freshDatabaseUrl(dialect);
      const [keyA, keyB] = [newKey(), newKey()];
      const open = async (current: string, old: string[], run: boolean) => {
        const rt = await createRuntime(
          testConfig(db.url, { PROVISIONER_SECRET_KEY: current, PROVISIONER_OLD_SECRET_KEYS: old.join(',') }),
          { executor: run, webhooks: run },
        );
        rt.executor?.start();
        rt.webhooks?.start();
        return Object.assign(rt, { dispose: async () => {} });
      };
      const storedSecret = async (rt: Runtime) =>
        (await rt.store.db.selectFrom('webhook_subscriptions').select('secret').executeTakeFirstOrThrow()).secret;
      const receiver = await startReceiver();
      const sim = await startService();
      try {
        // Subscribed while key A encrypts.
        let rt = await open(keyA, [], false);
        try {
          await adminOf(rt).createSubscription({
            targetUrl: receiver.url,
            secret: SECRET,
            topics: ['provisioning.workflow.completed'],
            actor: 'test',
          });
          assert.equal(JSON.parse(await storedSecret(rt)).kid, kid(keyA));
        } finally {
          await rt.close(200);
        }

        // B current, A still readable: rotation moves the secret to B once.
        rt = await open(keyB, [keyA], false);
        try {
          const none = { total: 0, reencrypted: 0 };
          assert.deepEqual(await rotateCredentialKeys(rt.store, rt.cipher), {
            ...none,
            webhookSecrets: { total: 1, reencrypted: 1 },
            signingSecrets: none,
          });
          assert.deepEqual(
            await rotateCredentialKeys(rt.store, rt.cipher),
            { ...none, webhookSecrets: { total: 1, reencrypted: 0 }, signingSecrets: none },
            'a second run has nothing left to do',
          );
          const sealed = await storedSecret(rt);
          assert.equal(JSON.parse(sealed).kid, kid(keyB));
          assert.ok(!sealed.includes(SECRET), 'still sealed, never stored in the clear');
        } finally {
          await rt.close(200);
        }

        // Only B is configured now: the dispatcher opens the secret and the receiver's check passes.
        rt = await open(keyB, [], true);
        try {
          await runWorkflow(rt, sim, 'completed');
          const hook = await receiver.waitFor((h) => h.json.event_type === 'provisioning.workflow.completed', 5000);
          assert.ok(signatureValid(SECRET, hook.headers['x-provisioner-timestamp'], hook.raw, hook.headers['x-provisioner-signature']));
        } finally {
          await rt.close(200);
        }
      } finally {
        await sim.close();
        await receiver.close();
        await db.drop();
      }
    });
  });
}
