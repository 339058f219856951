import { Option, type Command } from 'commander';

/** Flags of the commands that talk to a running Provisioner through its API. */
export function withApiFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'Provisioner base URL').env('PROVISIONER_URL').default('http://127.0.0.1:8000'))
    .addOption(
      new Option('--token <jwt>', 'bearer token (default: a short-lived admin token signed with the local dev secret)').env(
        'PROVISIONER_TOKEN',
      ),
    )
    .option('--data-dir <dir>', 'where dev secrets live, for the default token (PROVISIONER_DATA_DIR)');
}

export interface ApiFlags {
  url: string;
  token?: string;
  dataDir?: string;
}

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

async function tokenFor(flags: ApiFlags): Promise<string> {
  if (flags.token) return flags.token;
  const [{ configFrom }, { signToken }] = await Promise.all([import('./options.js'), import('../auth/token-signer.js')]);
  const config = configFrom({ dataDir: flags.dataDir });
  if (!config.auth.hs256Secret) throw new Error('no token: pass --token or set PROVISIONER_TOKEN (a token with permission admin:registry)');
  return signToken(config.auth.hs256Secret, { sub: 'cli-operator', permissions: ['admin:registry', 'admin:provisioning'] }, '5m');
}

/** One API call; a non-2xx answer becomes an ApiCallError whose message is the contract's error text. */
// biome-ignore lint/suspicious/noExplicitAny: each command reads the fields of its own answer
export async function callApi(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = await tokenFor(flags);
  const url = `${flags.url.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : '';
    throw new Error(`cannot reach ${url}${cause}; is Provisioner running? Set --url or PROVISIONER_URL`);
  }
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: see callApi
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (!res.ok) {
    const detail = Array.isArray(json?.detail)
      ? json.detail.map((d: { loc: unknown[]; msg: string }) => `\n  - ${d.loc.join('.')}: ${d.msg}`).join('')
      : '';
    throw new ApiCallError(
      `${method} ${path} → ${res.status}: ${json?.error?.message ?? (detail ? 'invalid request' : text.slice(0, 300))}${detail}`,
      res.status,
      json,
    );
  }
  return { status: res.status, json };
}
