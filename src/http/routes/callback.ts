import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../runtime.js';
import { normalizeReportStatus, type Report } from '../../domain/model.js';
import { ok } from '../envelope.js';
import { NotFound, ValidationFailed } from '../../domain/errors.js';
import { isWebUrl } from '../../domain/network-policy.js';
import { ProvisioningCallbackRequest } from '../schemas/provisioning.js';
import { ApiResponse_dict_, errorResponse, publicErrorResponses } from '../schemas/common.js';
import type { RateLimiter } from '../rate-limit.js';

export const CALLBACK_BODY_LIMIT = 256 * 1024;

/** The one endpoint without a JWT: the callback token is the credential (DESIGN §5.1). */
export function callbackRoutes({
  callbacks,
  limiter,
}: {
  callbacks: Runtime['callbacks'];
  limiter: RateLimiter;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/provisioning/callback',
      {
        bodyLimit: CALLBACK_BODY_LIMIT,
        schema: {
          tags: ['Provisioning'],
          operationId: 'provisioningCallback',
          summary: 'A service reports the result of a callback step',
          security: [],
          body: ProvisioningCallbackRequest,
          response: {
            200: ApiResponse_dict_,
            ...publicErrorResponses,
            410: errorResponse('The wait expired'),
            413: errorResponse('Body over 256 KiB'),
            429: errorResponse('Too many callbacks from this address; retry after Retry-After'),
          },
        },
      },
      async (req) => {
        const b = req.body;
        // The endpoint is shown to tenants and linked in the UI: only a web address (issue 11 finding 9).
        if (typeof b.endpoint === 'string' && !isWebUrl(b.endpoint)) {
          throw new ValidationFailed([
            {
              loc: ['body', 'endpoint'],
              msg: 'expected an absolute http(s) URL such as https://files.example.com/t/acme, or null',
              type: 'value_error.url.scheme',
            },
          ]);
        }
        const report: Report = {
          status: normalizeReportStatus(b.status) ?? 'failed',
          endpoint: b.endpoint ?? null,
          credentials: b.credentials ?? null,
          error: b.error ?? null,
          metadata: b.metadata ?? null,
        };
        try {
          // Spread: the answer's schema is a free-form object, which an interface is not assignable to.
          return ok(req, { ...(await callbacks.receive(b.callback_token, report)) });
        } catch (e) {
          // Only failed lookups count against a source (issue 11 finding 4): a valid token is always looked
          // up and never throttled, however many callbacks its service sends or others' garbage arrives.
          // req.ip is the client behind PROVISIONER_TRUSTED_PROXIES, else the peer address.
          if (e instanceof NotFound) limiter.take(req.ip);
          throw e;
        }
      },
    );
  };
}
