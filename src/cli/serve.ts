import { Command } from 'commander';
import { applyHeapPolicy } from './heap-policy.js';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { buildServer } from '../http/server.js';
import { signToken } from '../auth/token-signer.js';
import { applyManifests } from './services.js';
import { configFrom, withConfigFlags } from './options.js';

export function serveCommand(): Command {
  return withConfigFlags(new Command('serve').description('run the API and the executor')).action(async (flags) => {
    // Outside `demo`, secrets are never generated and no token is ever printed (issue 11 finding 8).
    const server = await startServer(configFrom({ ...flags, devSecrets: false }));
    await printBanner(server, { devToken: false });
    handleSignals(server);
  });
}

export interface RunningServer {
  runtime: Runtime;
  app: FastifyInstance | null;
  url: string;
  stop(graceMs?: number): Promise<void>;
}

/** Starts a replica in its role: `all` (API + executor), `api` (no executor) or `worker` (health and metrics only). */
export async function startServer(config: Config): Promise<RunningServer> {
  applyHeapPolicy(config.heapGrowingPercent);
  const runtime = await createRuntime(config);
  if (config.servicesDir) {
    for (const line of await applyManifests(runtime.registry, [config.servicesDir])) runtime.log.info(line);
  }
  const app = await buildServer(runtime);
  const address = await app.listen({ host: config.listen.host, port: config.listen.port });
  runtime.executor?.start();
  runtime.webhooks?.start();
  if (runtime.executor) runtime.intake.start();
  runtime.log.info({ address, role: config.role, database: runtime.store.dialect.name }, 'provisioner is serving');
  return {
    runtime,
    app,
    url: address,
    async stop(graceMs = 10_000) {
      await app.close();
      await runtime.close(graceMs);
    },
  };
}

/** `devToken` (demo only): sign and print a 24-hour development admin token when the secrets were generated. */
export async function printBanner(s: RunningServer, o: { devToken: boolean } = { devToken: true }) {
  const { config } = s.runtime;
  const lines = [`Provisioner ${config.role === 'worker' ? 'worker' : 'API'} on ${config.publicUrl} (${s.runtime.store.dialect.name})`];
  if (config.role !== 'worker') lines.push(`  API docs:  ${config.publicUrl}/docs`);
  if (o.devToken && config.devSecretsGenerated && config.auth.hs256Secret) {
    const token = await signToken(
      config.auth.hs256Secret,
      { sub: 'dev-admin', roles: ['super_admin'], permissions: ['admin:provisioning', 'admin:registry'] },
      '24h',
    );
    lines.push(`  Operator UI: ${config.publicUrl}/ui/login (paste the token below)`);
    lines.push(`  Dev admin token (24h): ${token}`);
    lines.push('  (dev secrets were generated in the data dir; set PROVISIONER_JWT_SECRET and PROVISIONER_SECRET_KEY in production)');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** First SIGTERM/SIGINT: stop taking work and finish what runs. A second one: leave now (leases expire, steps re-run). */
export function handleSignals(s: RunningServer) {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      s.runtime.log.warn({ signal }, 'second signal: exiting now; unfinished steps re-run elsewhere after their lease');
      process.exit(1);
    }
    stopping = true;
    s.runtime.log.info({ signal }, 'stopping: finishing running steps (send again to exit at once)');
    s.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        s.runtime.log.error({ err: e }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
