// A typed request/response channel over Node's fork() IPC. The bench runs the engine, the simulated
// service and the peer in their own processes, so that each one's CPU, memory and profile are its own.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** A child's API: every method takes one JSON-serialisable argument and resolves to a JSON-serialisable value. */
export type Api = Record<string, (arg: never) => Promise<unknown>>;

type Request = { rpc: number; method: string; arg: unknown };
type Response = { rpc: number; ok: true; value: unknown } | { rpc: number; ok: false; error: string };
/** Sent once by a child after its handlers are installed. */
type Ready = { ready: true };

export interface RpcChild<A extends Api> {
  readonly pid: number;
  call<K extends keyof A & string>(method: K, arg: Parameters<A[K]>[0]): ReturnType<A[K]>;
  /** Resolves with the exit code once the child has exited. */
  exited(): Promise<number | null>;
  kill(): void;
}

export interface ForkOptions {
  /** Extra node flags, e.g. --cpu-prof. */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** The script is compiled JavaScript: run it without tsx (no loader thread, no on-the-fly transforms). */
  compiled?: boolean;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Starts `script` (a .ts file run through tsx, or compiled JavaScript) and waits until it serves its API. */
export async function forkChild<A extends Api>(script: string, opts: ForkOptions = {}): Promise<RpcChild<A>> {
  const child: ChildProcess = fork(script, [], {
    cwd: repoRoot,
    execArgv: [...(opts.compiled ? [] : ['--import', 'tsx']), ...(opts.execArgv ?? [])],
    env: opts.env ?? process.env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  let seq = 0;
  let exitCode: number | null | undefined;
  const exit = once(child, 'exit').then(([code]) => {
    exitCode = code as number | null;
    for (const p of pending.values()) p.reject(new Error(`${script} exited (code ${String(code)}) during ${p.method}`));
    pending.clear();
    return exitCode;
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: Response | Ready) => {
      if ('ready' in m) {
        resolve();
        return;
      }
      const p = pending.get(m.rpc);
      if (!p) return;
      pending.delete(m.rpc);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`${p.method} failed in ${script}: ${m.error}`));
    });
    void exit.then((code) => reject(new Error(`${script} exited (code ${String(code)}) before it was ready`)));
  });
  await ready;
  return {
    pid: child.pid as number,
    call(method, arg) {
      if (exitCode !== undefined)
        return Promise.reject(new Error(`${script} has exited; cannot call ${method}`)) as ReturnType<A[typeof method]>;
      const rpc = ++seq;
      const result = new Promise((resolve, reject) => {
        pending.set(rpc, { resolve, reject, method });
      });
      child.send({ rpc, method, arg } satisfies Request);
      return result as ReturnType<A[typeof method]>;
    },
    exited: () => exit,
    kill: () => {
      if (exitCode === undefined) child.kill('SIGKILL');
    },
  };
}

/** In a child: answers the parent's calls with `api`, then announces itself ready. */
export function serveRpc(api: Api): void {
  if (!process.send) throw new Error('this script is started by bench/run.ts (it needs an IPC channel)');
  process.on('message', (m: Request) => {
    const handler = api[m.method];
    const reply = (r: Response) => {
      if (process.connected) process.send?.(r);
    };
    if (!handler) {
      reply({ rpc: m.rpc, ok: false, error: `unknown method ${m.method}` });
      return;
    }
    handler(m.arg as never).then(
      (value) => reply({ rpc: m.rpc, ok: true, value: value ?? null }),
      (e: unknown) => reply({ rpc: m.rpc, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  // The parent going away ends the child: no orphaned servers after an interrupted run.
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true } satisfies Ready);
}
