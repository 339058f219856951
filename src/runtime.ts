import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { openStore, type Store } from './store/store.js';
import { createCredentialCipher, type CredentialCipher } from './engine/credential-cipher.js';
import { createExecutor, type Executor, type ExecutorHooks } from './engine/executor.js';
import { createCallbackReceiver, type CallbackDeps } from './engine/callbacks.js';
import { createWorkflowStarter } from './engine/workflow-starter.js';
import { createWorkflowQueries } from './engine/workflow-queries.js';
import { createAdminActions } from './engine/admin-actions.js';
import { createRegistry } from './engine/registry.js';

/** The composition root: every engine part wired to one store, as `serve`, the CLI and tests use it. */
export interface Runtime {
  config: Config;
  log: Logger;
  store: Store;
  cipher: CredentialCipher;
  registry: ReturnType<typeof createRegistry>;
  starter: ReturnType<typeof createWorkflowStarter>;
  callbacks: ReturnType<typeof createCallbackReceiver>;
  queries: ReturnType<typeof createWorkflowQueries>;
  admin: ReturnType<typeof createAdminActions>;
  executor: Executor | null;
  close(graceMs?: number): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  clock?: () => number;
  executorHooks?: ExecutorHooks;
  onCallback?: CallbackDeps['onOutcome'];
  /** Start the executor (default: by role). */
  executor?: boolean;
}

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', '*.credentials', '*.callback_token', '*.token', '*.secret',
  'credentials', 'callback_token', 'token', 'secret',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}

export async function createRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger(config.logLevel);
  const store = openStore(config.database, (msg, err) => log.warn({ err }, msg));
  await store.migrate();
  const cipher = createCredentialCipher(config.secretKeys.current, config.secretKeys.old);
  const clock = opts.clock;
  const runExecutor = opts.executor ?? config.role !== 'api';
  const executor = runExecutor
    ? createExecutor({ store, cipher, log: log.child({ component: 'executor' }), config: config.worker, publicUrl: config.publicUrl, clock, hooks: opts.executorHooks })
    : null;
  return {
    config, log, store, cipher,
    registry: createRegistry({ store, clock }),
    starter: createWorkflowStarter({ store, cipher, clock }),
    callbacks: createCallbackReceiver({ store, cipher, clock, onOutcome: opts.onCallback }),
    queries: createWorkflowQueries({ store, cipher, clock }),
    admin: createAdminActions({ store, clock }),
    executor,
    async close(graceMs = 10_000) {
      await executor?.stop(graceMs);
      await store.close();
    },
  };
}
