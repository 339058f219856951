import { Command } from 'commander';
import { signToken } from '../auth/token-signer.js';
import { configFrom } from './options.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function tokenCommand(): Command {
  return new Command('token').description('print a token signed with the configured HS256 secret')
    .option('--data-dir <dir>', 'where dev secrets live (PROVISIONER_DATA_DIR)')
    .option('--tenant <id>', 'tenant_id claim')
    .option('--partner <id>', 'partner_id claim')
    .option('--role <role>', 'a role (repeatable)', collect, [])
    .option('--permission <perm>', 'a permission (repeatable)', collect, [])
    .option('--service <slug>', 'service_slug claim: the one service a registry:manage token may change')
    .option('--sub <subject>', 'sub claim', 'cli')
    .option('--ttl <ttl>', 'lifetime: 3600, 45s, 30m, 1h, 7d', '1h')
    .action(async (o) => {
      const config = configFrom({ dataDir: o.dataDir });
      if (!config.auth.hs256Secret) throw new Error('no HS256 secret configured (PROVISIONER_JWT_SECRET); tokens come from your identity provider');
      const token = await signToken(config.auth.hs256Secret, {
        sub: o.sub, tenant_id: o.tenant, partner_id: o.partner, roles: o.role, permissions: o.permission, service_slug: o.service,
      }, o.ttl);
      process.stdout.write(`${token}\n`);
    });
}
