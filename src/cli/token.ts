import { userInfo } from 'node:os';
import { Command } from 'commander';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Whoever runs the CLI: events of calls made with the token name this actor. */
function loginName(): string {
  try {
    return userInfo().username || 'cli-user';
  } catch {
    return 'cli-user';
  }
}

export function tokenCommand(): Command {
  return new Command('token')
    .description('print a token signed with the configured HS256 secret')
    .option('--data-dir <dir>', 'where dev secrets live (PROVISIONER_DATA_DIR)')
    .option('--tenant <id>', 'tenant_id claim')
    .option('--partner <id>', 'partner_id claim')
    .option('--role <role>', 'a role (repeatable)', collect, [])
    .option('--permission <perm>', 'a permission (repeatable)', collect, [])
    .option('--service <slug>', 'service_slug claim: the one service a registry:manage token may change')
    .option('--sub <subject>', 'sub claim: the actor that audit events of calls with this token name (default: your login name)')
    .option('--ttl <ttl>', 'lifetime: 3600, 45s, 30m, 1h, 7d', '1h')
    .action(async (o) => {
      const [{ configFrom }, { signToken }] = await Promise.all([import('./options.js'), import('../auth/token-signer.js')]);
      const config = configFrom({ dataDir: o.dataDir });
      if (!config.auth.hs256Secret)
        throw new Error('no HS256 secret configured (PROVISIONER_JWT_SECRET); tokens come from your identity provider');
      const token = await signToken(
        config.auth.hs256Secret,
        {
          sub: o.sub ?? loginName(),
          tenant_id: o.tenant,
          partner_id: o.partner,
          roles: o.role,
          permissions: o.permission,
          service_slug: o.service,
        },
        o.ttl,
      );
      process.stdout.write(`${token}\n`);
    });
}
