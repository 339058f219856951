// A real Provisioner HTTP server with the UI, on 127.0.0.1:<random>, for the UI tests.
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { signToken, type TokenClaims } from '../../src/auth/token-signer.js';
import { uiPlugin } from '../../src/ui/plugin.js';
import { startTestRuntime, eventually, TEST_JWT_SECRET, type TestRuntime } from '../support/runtime.js';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import type { Env } from '../../src/config.js';
import type { WorkflowDetail } from '../../src/engine/workflow-queries.js';

export interface UiServer {
  url: string;
  app: FastifyInstance;
  rt: TestRuntime;
  sim: ServiceSim;
  close(): Promise<void>;
}

export async function startUiServer(env: Env = {}): Promise<UiServer> {
  const sim = await startServiceSim();
  const rt = await startTestRuntime('sqlite', env);
  const app = await buildServer(rt);
  // Until buildServer mounts the UI itself (it then owns this line), the test adds it at the root.
  if (!app.hasRoute({ method: 'GET', url: '/ui/workflows' })) {
    await app.register(uiPlugin({ runtime: rt, verifier: createTokenVerifier(rt.config.auth) }));
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the UI test server did not bind a TCP port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    rt,
    sim,
    async close() {
      await app.close();
      await rt.dispose();
      await sim.close();
    },
  };
}

export const adminClaims: TokenClaims = { sub: 'ops@example.com', permissions: ['admin:provisioning'] };
export const tenantClaims = (tenant: string): TokenClaims => ({ sub: `user@${tenant}`, tenant_id: tenant, roles: ['tenant_admin'] });
export const tokenFor = (claims: TokenClaims, ttl = '1h') => signToken(TEST_JWT_SECRET, claims, ttl);

export async function startWorkflow(
  rt: TestRuntime,
  tenantId: string,
  serviceSlug: string,
  parameters: Record<string, string> = {},
): Promise<string> {
  const { workflowId } = await rt.starter.start({
    tenantId,
    serviceSlug,
    kind: 'provision',
    parameters,
    idempotencyKey: null,
    actor: 'test',
  });
  return workflowId;
}

export function waitForWorkflow(rt: TestRuntime, id: string, what: string, ok: (d: WorkflowDetail) => boolean): Promise<WorkflowDetail> {
  return eventually(what, async () => {
    const d = await rt.queries.detail(id, null);
    return ok(d) ? d : null;
  });
}

export const stepStatus = (d: WorkflowDetail, name: string) => d.steps.find((s) => s.name === name)?.status;
