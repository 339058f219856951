import type { Command } from 'commander';
import { ConfigError, loadConfig, type Config, type ConfigFlags } from '../config.js';

/** The serve flags of DESIGN §2; each mirrors an environment variable and wins over it. */
export function withConfigFlags(cmd: Command): Command {
  return cmd
    .option('--port <port>', 'listen port (PORT)')
    .option('--host <host>', 'listen address (HOST)')
    .option('--database-url <url>', 'postgres://… or sqlite:PATH (DATABASE_URL)')
    .option('--public-url <url>', 'base URL services use to reach us (PUBLIC_URL)')
    .option('--services-dir <dir>', 'manifests applied at start (PROVISIONER_SERVICES_DIR)')
    .option('--role <role>', 'all | api | worker (PROVISIONER_ROLE)')
    .option('--concurrency <n>', 'steps run at once (PROVISIONER_WORKER_CONCURRENCY)')
    .option('--data-dir <dir>', 'where the SQLite file and dev secrets live (PROVISIONER_DATA_DIR)');
}

export function configFrom(flags: ConfigFlags): Config {
  try {
    return loadConfig(process.env, flags);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
