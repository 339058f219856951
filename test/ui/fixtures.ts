// Services and simulator routes the UI tests drive. Each test service has its own slug, so the
// "one active workflow per tenant and service" rule never couples two tests.
import type { ServiceSim } from '../support/service-sim.js';

/** The Files shape: account → (bucket by callback, index) → keys. Stops at create_bucket until called back. */
export function storageManifest(baseUrl: string) {
  return {
    slug: 'storage',
    name: 'Storage',
    version: '1.4.0',
    base_url: baseUrl,
    on_failure: 'rollback',
    provision: [
      { name: 'create_account', type: 'http', request: { method: 'POST', path: '/accounts', body: { tenant: '{{tenant.id}}' } } },
      {
        name: 'create_bucket',
        type: 'callback',
        depends_on: ['create_account'],
        request: {
          method: 'POST',
          path: '/buckets',
          body: { account: '{{steps.create_account.output.id}}', callback_token: '{{callback.token}}' },
        },
        wait: { timeout_s: 3600, heartbeat_s: 600 },
      },
      { name: 'build_index', type: 'http', depends_on: ['create_account'], request: { method: 'POST', path: '/indexes' } },
      { name: 'issue_keys', type: 'http', depends_on: ['create_bucket', 'build_index'], request: { method: 'POST', path: '/keys' } },
    ],
  };
}

/** One step that is refused (400) the first time and accepted after; `hold` keeps the failure for an operator. */
export function flakyManifest(baseUrl: string) {
  return {
    slug: 'flaky',
    name: 'Flaky',
    version: '1.0.0',
    base_url: baseUrl,
    on_failure: 'hold',
    provision: [
      { name: 'configure', type: 'http', request: { method: 'POST', path: '/configure' } },
      { name: 'activate', type: 'http', depends_on: ['configure'], request: { method: 'POST', path: '/activate' } },
    ],
  };
}

export const XSS_ERROR_BODY = '<script>window.__xss = "error"; alert("xss")</script><img src=x onerror="alert(2)">';
export const XSS_PARAM = '<script>window.__xss = "param"</script>';

/** Hostile text everywhere a manifest or a service can put it. */
export function evilManifest(baseUrl: string) {
  return {
    slug: 'evil',
    name: '<script>window.__xss = "name"</script>Evil',
    version: '1.0.0',
    base_url: baseUrl,
    on_failure: 'hold',
    description: '<img src=x onerror="alert(3)">',
    provision: [{ name: 'setup', type: 'http', request: { method: 'POST', path: '/evil', body: { note: '{{parameters.note}}' } } }],
  };
}

export function quickManifest(baseUrl: string) {
  return {
    slug: 'quick',
    name: 'Quick',
    version: '1.0.0',
    base_url: baseUrl,
    provision: [{ name: 'only', type: 'http', request: { method: 'POST', path: '/quick' } }],
  };
}

export function simulateServices(sim: ServiceSim): void {
  sim.route('POST', '/accounts', { status: 201, json: { id: 'acc_1' } });
  sim.route('POST', '/buckets', { status: 202, json: { accepted: true } });
  sim.route('POST', '/indexes', { status: 200, json: { index: 'idx_1', shards: 3 } });
  sim.route('POST', '/keys', { status: 200, json: { key_id: 'key_1', endpoint: 'https://storage.example.com/acc_1' } });
  sim.route('POST', '/configure', (_req, nth) =>
    nth === 1 ? { status: 400, json: { error: 'plan "gold" is not available in eu-west' } } : { status: 200, json: { configured: true } },
  );
  sim.route('POST', '/activate', { status: 200, json: { active: true } });
  sim.route('POST', '/evil', { status: 400, body: XSS_ERROR_BODY, headers: { 'content-type': 'text/html' } });
  sim.route('POST', '/quick', { status: 200, json: { ok: true } });
}

export function callbackTokenOf(sim: ServiceSim): string {
  const body = sim.calls('POST', '/buckets')[0]?.body as { callback_token?: string } | undefined;
  if (!body?.callback_token) throw new Error('the bucket request carried no callback_token');
  return body.callback_token;
}
