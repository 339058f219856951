import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import { signToken, type TokenClaims } from '../../src/auth/token-signer.js';
import { startTestRuntime, TEST_JWT_SECRET, type TestDialect, type TestRuntime } from './runtime.js';
import type { Env } from '../../src/config.js';
import type { RuntimeOptions } from '../../src/runtime.js';

export interface ApiHarness {
  rt: TestRuntime;
  app: FastifyInstance;
  /** `inject` with a bearer token for the given claims (or none). */
  call(
    opts: InjectOptions & { as?: TokenClaims | null },
  ): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export const ADMIN: TokenClaims = { sub: 'ops', permissions: ['admin:provisioning', 'admin:registry'] };
// Registers services of many slugs across the suites, so it holds admin:registry; a service's own token
// (registry:manage + service_slug) is tested in test/security/service-identity.test.ts.
export const REGISTRAR: TokenClaims = { sub: 'svc', permissions: ['registry:manage', 'admin:registry'] };
export const serviceToken = (slug: string): TokenClaims => ({ sub: `svc-${slug}`, permissions: ['registry:manage'], service_slug: slug });
export const tenantAdmin = (tenant: string): TokenClaims => ({ sub: `${tenant}-admin`, tenant_id: tenant, roles: ['tenant_admin'] });
export const tenantReader = (tenant: string): TokenClaims => ({ sub: `${tenant}-reader`, tenant_id: tenant });

/** The real HTTP app over an existing runtime, driven in-process with `inject`. */
export async function serverFor(rt: TestRuntime): Promise<Pick<ApiHarness, 'app' | 'call'>> {
  const app = await buildServer(rt);
  await app.ready();
  return {
    app,
    async call({ as, ...opts }) {
      const headers = { ...(opts.headers ?? {}) } as Record<string, string>;
      if (as) headers.authorization = `Bearer ${await signToken(TEST_JWT_SECRET, as, '1h')}`;
      const res = await app.inject({ ...opts, headers });
      let json: unknown;
      try {
        json = res.json();
      } catch {
        json = res.body;
      }
      return { status: res.statusCode, json, body: res.body, headers: res.headers };
    },
  };
}

/** The real HTTP app on a real runtime (fresh database). */
export async function startApi(dialect: TestDialect, env: Env = {}, opts: RuntimeOptions = {}): Promise<ApiHarness> {
  const rt = await startTestRuntime(dialect, env, opts);
  const server = await serverFor(rt);
  return {
    rt,
    ...server,
    async close() {
      await server.app.close();
      await rt.dispose();
    },
  };
}
