// The bench's client of Provisioner's HTTP API: registering the manifest, starting workflows and watching
// them, the way an operator's tooling would. Kept-alive node:http connections keep the client's own cost
// (it shares the 2 cores) small next to the engine's.
import { Agent, request } from 'node:http';
import { signToken } from '../../src/auth/token-signer.js';

const API = '/api/v1';
const ACTIVE = ['pending', 'running', 'rolling_back'] as const;
const TERMINAL = ['completed', 'failed', 'rolled_back', 'cancelled'] as const;

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface BenchApi {
  request(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  registerManifest(manifest: unknown): Promise<void>;
  /** Starts one provision workflow for `tenant` (POST /admin/provisioning/workflows); resolves with its id. */
  start(slug: string, tenant: string): Promise<string>;
  /** Starts one workflow per tenant, `concurrency` requests in flight; resolves with the wall time (ms). */
  startMany(slug: string, tenants: readonly string[], concurrency: number): Promise<number>;
  /** Starts one workflow per tenant at a steady rate (open loop: a slow answer does not delay the next start). */
  startPaced(slug: string, tenants: readonly string[], perSecond: number): Promise<number>;
  /** Status of one workflow (GET /admin/provisioning/workflows/{id}). */
  status(id: string): Promise<string>;
  /** True once no workflow is pending, running or rolling back. */
  idle(): Promise<boolean>;
  /** Workflows by status (those with any), counted by paging through the admin list. */
  countByStatus(): Promise<Record<string, number>>;
  close(): void;
}

/** An operator token (super_admin) signed with the engine's HS256 secret, as `provisioner token` would mint. */
export async function connectApi(baseUrl: string, jwtSecret: string): Promise<BenchApi> {
  const token = await signToken(
    jwtSecret,
    { sub: 'bench', roles: ['super_admin'], permissions: ['admin:provisioning', 'admin:registry'] },
    '12h',
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const base = new URL(baseUrl);

  const call = (method: string, path: string, body?: unknown): Promise<ApiAnswer> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: base.hostname,
          port: base.port,
          path: `${API}${path}`,
          method,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              /* kept as text for the error message */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.once('error', reject);
      req.end(payload);
    });
  const expect = async (method: string, path: string, body: unknown, ok: number[]): Promise<unknown> => {
    const r = await call(method, path, body);
    if (!ok.includes(r.status)) throw new Error(`${method} ${API}${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body;
  };
  const data = <T>(body: unknown) => (body as { data: T }).data;

  const api: BenchApi = {
    request: call,
    async registerManifest(manifest) {
      await expect('PUT', '/registry/register', manifest, [200, 201]);
    },
    async start(slug, tenant) {
      const body = await expect(
        'POST',
        '/admin/provisioning/workflows',
        { tenant_id: tenant, service_slug: slug, kind: 'provision' },
        [201],
      );
      return data<{ id: string }>(body).id;
    },
    async startMany(slug, tenants, concurrency) {
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, tenants.length) }, async () => {
          while (next < tenants.length) await api.start(slug, tenants[next++] as string);
        }),
      );
      return performance.now() - t0;
    },
    async startPaced(slug, tenants, perSecond) {
      const t0 = performance.now();
      const started: Promise<string>[] = [];
      for (let i = 0; i < tenants.length; i++) {
        const wait = t0 + (i * 1000) / perSecond - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        started.push(api.start(slug, tenants[i] as string));
      }
      await Promise.all(started);
      return performance.now() - t0;
    },
    async status(id) {
      return data<{ status: string }>(await expect('GET', `/admin/provisioning/workflows/${id}`, undefined, [200])).status;
    },
    async idle() {
      for (const s of ACTIVE) {
        if (data<unknown[]>(await expect('GET', `/admin/provisioning/workflows?status=${s}&limit=1`, undefined, [200])).length > 0)
          return false;
      }
      return true;
    },
    async countByStatus() {
      const out: Record<string, number> = {};
      for (const s of [...TERMINAL, ...ACTIVE]) {
        let n = 0;
        let cursor: string | null = null;
        do {
          const body = (await expect(
            'GET',
            `/admin/provisioning/workflows?status=${s}&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
            undefined,
            [200],
          )) as { data: unknown[]; meta: { next_cursor: string | null } };
          n += body.data.length;
          cursor = body.meta.next_cursor;
        } while (cursor);
        if (n > 0) out[s] = n;
      }
      return out;
    },
    close() {
      agent.destroy();
    },
  };
  return api;
}
