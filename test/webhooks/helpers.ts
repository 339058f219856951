// Shared set-up for webhook tests: a provisioned service on loopback and a workflow that runs against it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { startServiceSim, type ServiceSim } from '../support/service-sim.js';
import { eventually, type TestRuntime } from '../support/runtime.js';
import { createWebhookAdmin } from '../../src/engine/webhooks.js';
import type { WebhookDeliveryResponse } from '../../src/domain/webhook-views.js';

export const SECRET = 'whsec-0123456789abcdef';
export const PASSWORD = 'hunter2-must-never-leave';
export const FAST_SCHEDULE = { PROVISIONER_WEBHOOK_RETRY_SCHEDULE: '0.05,0.05' };

let seq = 0;
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

/** A service whose one step answers 200 with credentials (or `status` to make it fail for good). */
export async function startService(status = 200): Promise<ServiceSim> {
  const sim = await startServiceSim();
  sim.route('POST', '/accounts', {
    status,
    json: status < 300 ? { id: 'acc_1', credentials: { password: PASSWORD } } : { error: 'refused' },
  });
  return sim;
}

/** Registers a one-step service and starts a workflow; resolves with its id once it reached `until`. */
export async function runWorkflow(rt: TestRuntime, sim: ServiceSim, until: string): Promise<{ workflowId: string; slug: string }> {
  const slug = unique('svc');
  await rt.registry.register({
    slug,
    name: 'Webhook test service',
    version: '1.0.0',
    base_url: sim.url,
    provision: [{ name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts' }, retry: { max_attempts: 1 } }],
  });
  const { workflowId } = await rt.starter.start({
    tenantId: unique('tenant'),
    serviceSlug: slug,
    kind: 'provision',
    parameters: {},
    idempotencyKey: null,
    actor: 'test',
  });
  await eventually(`workflow ${workflowId} to be ${until}`, async () => (await rt.queries.detail(workflowId, null)).status === until);
  return { workflowId, slug };
}

export const adminOf = (rt: TestRuntime) => createWebhookAdmin({ store: rt.store, cipher: rt.cipher });

export async function untilDelivery(
  rt: TestRuntime,
  what: string,
  pred: (d: WebhookDeliveryResponse) => boolean,
  timeoutMs = 5000,
): Promise<WebhookDeliveryResponse> {
  const admin = adminOf(rt);
  return eventually(what, async () => (await admin.listDeliveries({ limit: 500 })).items.find(pred), timeoutMs);
}

/** The receiver's side of DESIGN §9, written from the contract rather than from our signer. */
export function signatureValid(secret: string, timestamp: string, raw: Buffer, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest('hex')}`);
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
