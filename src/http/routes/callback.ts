import type { FastifyPluginAsync } from 'fastify';
import type { Runtime } from '../../runtime.js';
import { normalizeReportStatus, type Report } from '../../domain/model.js';
import type { JsonObject } from '../../domain/json.js';
import { ok } from '../envelope.js';
import { ProvisioningCallbackRequest } from '../schemas/provisioning.js';
import { ApiResponse_dict_, errorResponse, publicErrorResponses } from '../schemas/common.js';
import type { RateLimiter } from '../rate-limit.js';

export const CALLBACK_BODY_LIMIT = 256 * 1024;

/** The one endpoint without a JWT: the callback token is the credential (DESIGN §5.1). */
export function callbackRoutes({ runtime, limiter }: { runtime: Runtime; limiter: RateLimiter }): FastifyPluginAsync {
  return async (app) => {
    app.post('/provisioning/callback', {
      bodyLimit: CALLBACK_BODY_LIMIT,
      onRequest: async (req) => limiter.take(req.ip),
      schema: {
        tags: ['Provisioning'], operationId: 'provisioningCallback', summary: 'A service reports the result of a callback step', security: [],
        body: ProvisioningCallbackRequest, response: { 200: ApiResponse_dict_, ...publicErrorResponses, 410: errorResponse('The wait expired'), 413: errorResponse('Body over 256 KiB'), 429: errorResponse('Too many callbacks from this address; retry after Retry-After') },
      },
    }, async (req) => {
      const b = req.body as ProvisioningCallbackRequest;
      const report: Report = {
        status: normalizeReportStatus(b.status) ?? 'failed',
        endpoint: b.endpoint ?? null,
        credentials: (b.credentials ?? null) as JsonObject | null,
        error: b.error ?? null,
        metadata: (b.metadata ?? null) as JsonObject | null,
      };
      return ok(req, await runtime.callbacks.receive(b.callback_token, report));
    });
  };
}
