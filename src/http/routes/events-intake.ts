import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { SubscriptionIntake } from '../../engine/subscription-intake.js';
import { ValidationFailed } from '../../domain/errors.js';
import { SubscriptionEventAnswer, SubscriptionEventEnvelope } from '../../domain/subscription-event.js';
import { ok } from '../envelope.js';
import { envelope, errorResponse, errorResponses } from '../schemas/common.js';

export const INTAKE_BODY_LIMIT = 256 * 1024;

const IntakeHeaders = Type.Object({
  'x-scaicontrol-signature': Type.Optional(
    Type.String({ description: 'sha256=<hex HMAC-SHA256> of the raw body, or of "<timestamp>.<raw body>"' }),
  ),
  'x-scaicontrol-timestamp': Type.Optional(Type.String({ description: 'unix seconds; more than 5 minutes off → 401' })),
  'x-scaicontrol-event-id': Type.Optional(Type.String()),
  'x-scaicontrol-event-type': Type.Optional(Type.String()),
});

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's bytes as received, kept for the intake's signature. */
    rawBody?: Buffer;
  }
}

/**
 * ScaiControl's subscription webhooks (issue 14, DESIGN §12). No JWT: the signature is the credential.
 * This scope's own JSON parser keeps the raw bytes and checks the signature before anything is parsed,
 * so an unsigned request learns nothing from validation and the HMAC sees exactly what was sent.
 */
export function eventsIntakeRoutes({ intake }: { intake: SubscriptionIntake }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req: FastifyRequest, body: Buffer | string, done) => {
      const raw = typeof body === 'string' ? Buffer.from(body) : body;
      try {
        intake.verify(req.headers, raw);
        req.rawBody = raw;
        done(null, JSON.parse(raw.toString('utf8')));
      } catch (e) {
        if (e instanceof SyntaxError) {
          done(
            new ValidationFailed([
              {
                loc: ['body'],
                msg: `the body is not valid JSON (${e.message}); send the event envelope as ScaiControl does`,
                type: 'json_invalid',
              },
            ]),
            undefined,
          );
        } else {
          done(e as Error, undefined);
        }
      }
    });

    app.post(
      '/events/subscriptions',
      {
        bodyLimit: INTAKE_BODY_LIMIT,
        schema: {
          tags: ['Events'],
          summary: "ScaiControl's subscription events: activated → provision, changed → update, cancelled → deprovision",
          security: [],
          headers: IntakeHeaders,
          body: SubscriptionEventEnvelope,
          response: {
            200: envelope(SubscriptionEventAnswer),
            202: envelope(SubscriptionEventAnswer),
            ...errorResponses,
            401: errorResponse('Bad or missing signature, or a timestamp more than 5 minutes off'),
            404: errorResponse('The intake is off (PROVISIONER_INTAKE_SECRET unset), or the service is unknown'),
          },
        },
      },
      async (req, reply) => {
        const r = await intake.receive(req.body, (req.rawBody ?? Buffer.alloc(0)).toString('utf8'));
        reply.code(r.repeat ? 200 : 202);
        return ok(req, r.answer);
      },
    );
  };
}
