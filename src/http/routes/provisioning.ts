import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../runtime.js';
import { canRevealCredentials, canWriteOwn } from '../../domain/caller.js';
import { ok, page } from '../envelope.js';
import { requireCaller, requireTenant } from '../auth.js';
import type { FastifyRequest } from 'fastify';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import {
  CredentialsResponse,
  EventsQuery,
  ProvisioningStatusResponse,
  ServiceSlugParams,
  StartWorkflowRequest,
  WorkflowDetailResponse,
  WorkflowEventResponse,
  WorkflowIdParams,
  WorkflowListQuery,
} from '../schemas/provisioning.js';
import { WorkflowResponse } from '../../domain/views.js';
import { IdempotencyKeyHeaders } from '../schemas/headers.js';

const tags = ['Provisioning'];
/** Safe after `requireTenant`, which every route here runs first. */
const tenantOf = (req: FastifyRequest) => req.caller.tenantId as string;
const canWrite = requireCaller(canWriteOwn, 'starting a workflow needs role tenant_admin or permission provisioning:write');
const canReveal = requireCaller(canRevealCredentials, 'revealing credentials needs role tenant_admin');

/** The tenant's view: every read is scoped to the caller's tenant_id claim. */
export function provisioningRoutes({ starter, queries }: Pick<Runtime, 'starter' | 'queries'>): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addHook('preHandler', requireTenant);

    app.get(
      '/provisioning/status/:service_slug',
      {
        schema: {
          tags,
          operationId: 'getProvisioningStatus',
          summary: "Where the caller's service stands",
          params: ServiceSlugParams,
          response: { 200: envelope(ProvisioningStatusResponse), ...errorResponses },
        },
      },
      async (req) => ok(req, await queries.status(tenantOf(req), req.params.service_slug)),
    );

    app.get(
      '/provisioning/status/:service_slug/credentials',
      {
        preHandler: canReveal,
        schema: {
          tags,
          operationId: 'revealCredentials',
          summary: 'Reveal the credentials of the current provisioning (audited)',
          params: ServiceSlugParams,
          response: { 200: envelope(CredentialsResponse), ...errorResponses },
        },
      },
      async (req) => ok(req, await queries.revealCredentials(tenantOf(req), req.params.service_slug, req.caller.sub)),
    );

    app.get(
      '/provisioning/workflows',
      {
        schema: {
          tags,
          operationId: 'listWorkflows',
          summary: "The caller's tenant's workflows, newest first",
          querystring: WorkflowListQuery,
          response: { 200: listEnvelope(WorkflowResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await queries.list({
          tenantId: tenantOf(req),
          status: q.status,
          serviceSlug: q.service_slug,
          kind: q.kind,
          limit: q.limit,
          cursor: q.cursor,
        });
        return page(req, r.items, { limit: q.limit, next_cursor: r.nextCursor });
      },
    );

    app.get(
      '/provisioning/workflows/:workflow_id',
      {
        schema: {
          tags,
          operationId: 'getWorkflow',
          summary: 'A workflow and its steps',
          params: WorkflowIdParams,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => ok(req, await queries.detail(req.params.workflow_id, tenantOf(req))),
    );

    app.get(
      '/provisioning/workflows/:workflow_id/events',
      {
        schema: {
          tags,
          operationId: 'listWorkflowEvents',
          summary: 'The audit history of a workflow (polls summarised)',
          params: WorkflowIdParams,
          querystring: EventsQuery,
          response: { 200: listEnvelope(WorkflowEventResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await queries.events(req.params.workflow_id, tenantOf(req), q.cursor, q.limit);
        return page(req, r.items, { limit: q.limit, next_cursor: r.nextCursor });
      },
    );

    app.post(
      '/provisioning/workflows',
      {
        preHandler: canWrite,
        schema: {
          tags,
          operationId: 'startWorkflow',
          summary: "Provision, update or deprovision a service for the caller's tenant",
          headers: IdempotencyKeyHeaders,
          body: StartWorkflowRequest,
          response: { 200: envelope(WorkflowDetailResponse), 201: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req, reply) => {
        const body = req.body;
        const tenantId = tenantOf(req);
        const r = await starter.start({
          tenantId,
          serviceSlug: body.service_slug,
          kind: body.kind,
          parameters: body.parameters,
          idempotencyKey: req.headers['idempotency-key'] ?? null,
          actor: req.caller.sub,
          reason: body.reason ?? null,
        });
        reply.code(r.created ? 201 : 200);
        return ok(req, await queries.detail(r.workflowId, tenantId));
      },
    );
  };
}
