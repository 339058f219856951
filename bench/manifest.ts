// The benchmark workflow: six steps, http → (callback, http, poll in parallel) → http → http,
// against bench/sim-service.ts. The same shape is built by hand on graphile-worker in bench/peer-process.ts.
import { SIM_ROUTES } from './sim-service.js';

export const STEPS_PER_WORKFLOW = 6;

/**
 * The poll step polls 10 ms after its first request. The simulated service answers `completed` on the
 * first poll, so this is the whole wait; a realistic 1-5 s interval would only add idle time per workflow.
 */
export const POLL_INTERVAL_S = 0.01;

export function benchManifest(slug: string, baseUrl: string) {
  const account = '{{steps.create_account.output.id}}';
  return {
    slug,
    name: `Bench ${slug}`,
    version: '1.0.0',
    base_url: baseUrl,
    on_failure: 'rollback',
    provision: [
      {
        name: 'create_account',
        type: 'http',
        request: { method: 'POST', path: SIM_ROUTES.account, body: { tenant: '{{tenant.id}}' } },
        compensate: { method: 'DELETE', path: `${SIM_ROUTES.account}/${account}` },
      },
      {
        name: 'create_bucket',
        type: 'callback',
        depends_on: ['create_account'],
        request: {
          method: 'POST',
          path: SIM_ROUTES.bucket,
          body: { account, callback_url: '{{callback.url}}', callback_token: '{{callback.token}}' },
        },
        wait: { timeout_s: 600 },
      },
      {
        name: 'configure_dns',
        type: 'http',
        depends_on: ['create_account'],
        request: { method: 'POST', path: SIM_ROUTES.dns, body: { account } },
      },
      {
        name: 'build_index',
        type: 'poll',
        depends_on: ['create_account'],
        request: { method: 'POST', path: SIM_ROUTES.index, body: { account } },
        poll: { interval_s: POLL_INTERVAL_S, timeout_s: 600 },
      },
      {
        name: 'issue_keys',
        type: 'http',
        depends_on: ['create_bucket', 'configure_dns', 'build_index'],
        request: { method: 'POST', path: SIM_ROUTES.keys, body: { account } },
      },
      { name: 'notify', type: 'http', depends_on: ['issue_keys'], request: { method: 'POST', path: SIM_ROUTES.notify, body: { account } } },
    ],
  };
}
