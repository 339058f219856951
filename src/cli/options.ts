import { InvalidArgumentError, type Command } from 'commander';
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

/** Only what a command that opens the database needs (its help must not list server options). */
export function withDatabaseFlags(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'postgres://… or sqlite:PATH (DATABASE_URL)')
    .option('--data-dir <dir>', 'where the SQLite file and dev secrets live (PROVISIONER_DATA_DIR)');
}

/** A positive integer option value, or an error naming the option and the accepted form. */
export function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max} (got ${JSON.stringify(v)})`);
    return n;
  };
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
