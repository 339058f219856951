import { Command } from 'commander';
import { configFrom, withDatabaseFlags } from './options.js';

export function keysCommand(): Command {
  const cmd = new Command('keys').description('encryption keys for credentials at rest');
  cmd.addCommand(
    withDatabaseFlags(
      new Command('rotate').description(
        're-encrypt every stored credential and webhook secret with PROVISIONER_SECRET_KEY (old keys in PROVISIONER_OLD_SECRET_KEYS)',
      ),
    ).action(async (flags) => {
      const [{ createRuntime }, { rotateCredentialKeys }] = await Promise.all([
        import('../runtime.js'),
        import('../engine/key-rotation.js'),
      ]);
      const rt = await createRuntime(configFrom(flags), { executor: false });
      try {
        const r = await rotateCredentialKeys(rt.store, rt.cipher);
        process.stdout.write(
          `re-encrypted ${r.reencrypted} of ${r.total} credential sets with key ${rt.cipher.currentKid}, ${r.webhookSecrets.reencrypted} of ${r.webhookSecrets.total} webhook secrets and ${r.signingSecrets.reencrypted} of ${r.signingSecrets.total} service signing secrets\n`,
        );
      } finally {
        await rt.close();
      }
    }),
  );
  return cmd;
}
