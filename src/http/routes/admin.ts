import type { FastifyPluginAsync } from 'fastify';
import type { WorkflowKind } from '../../domain/model.js';
import type { Runtime } from '../../runtime.js';
import { isAdmin } from '../../domain/caller.js';
import { WorkflowResponse } from '../../domain/views.js';
import { ok, page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import {
  AdminActionRequest, AdminStartWorkflowRequest, AdminWorkflowListQuery, CancelRequest, EventsQuery, ResolveRequest, RetryStepParams, StuckQuery,
  StuckWorkflowResponse, WorkflowDetailResponse, WorkflowEventResponse, WorkflowIdParams,
} from '../schemas/provisioning.js';
import { IdempotencyKeyHeaders } from '../schemas/headers.js';

const tags = ['Admin'];
type IdParams = { workflow_id: string };

/** Operators: every tenant, and the repair actions (DESIGN §5 admin). Each action records who and why. */
export function adminRoutes({ runtime }: { runtime: Runtime }): FastifyPluginAsync {
  return async (app) => {
    app.addHook('preHandler', requireCaller(isAdmin, 'admin endpoints need permission admin:provisioning or role super_admin'));

    app.get('/admin/provisioning/workflows', {
      schema: { tags, operationId: 'adminListWorkflows', summary: 'Workflows of all tenants, newest first', querystring: AdminWorkflowListQuery, response: { 200: listEnvelope(WorkflowResponse), ...errorResponses } },
    }, async (req) => {
      const q = req.query as { tenant_id?: string; status?: string; service_slug?: string; kind?: string; limit?: number; cursor?: string };
      const limit = q.limit ?? 100;
      const r = await runtime.queries.list({ tenantId: q.tenant_id, status: q.status, serviceSlug: q.service_slug, kind: q.kind, limit, cursor: q.cursor });
      return page(req, r.items, { limit, next_cursor: r.nextCursor });
    });

    app.get('/admin/provisioning/workflows/:workflow_id', {
      schema: { tags, operationId: 'adminGetWorkflow', summary: "Any tenant's workflow", params: WorkflowIdParams, response: { 200: envelope(WorkflowDetailResponse), ...errorResponses } },
    }, async (req) => ok(req, await runtime.queries.detail((req.params as IdParams).workflow_id, null)));

    app.get('/admin/provisioning/workflows/:workflow_id/events', {
      schema: { tags, operationId: 'adminListWorkflowEvents', summary: "Any tenant's workflow history", params: WorkflowIdParams, querystring: EventsQuery, response: { 200: listEnvelope(WorkflowEventResponse), ...errorResponses } },
    }, async (req) => {
      const q = req.query as { limit?: number; cursor?: string };
      const limit = q.limit ?? 100;
      const r = await runtime.queries.events((req.params as IdParams).workflow_id, null, q.cursor, limit);
      return page(req, r.items, { limit, next_cursor: r.nextCursor });
    });

    app.get('/admin/provisioning/stuck', {
      schema: { tags, operationId: 'adminListStuckWorkflows', summary: 'Unfinished workflows without progress for longer than older_than_s, oldest first, each with why', querystring: StuckQuery, response: { 200: listEnvelope(StuckWorkflowResponse), ...errorResponses } },
    }, async (req) => {
      const q = req.query as { older_than_s?: number; limit?: number };
      const limit = q.limit ?? 100;
      const items = await runtime.queries.stuck({ olderThanS: q.older_than_s ?? runtime.config.stuckAfterS, limit });
      return page(req, items, { limit, next_cursor: null });
    });

    app.post('/admin/provisioning/workflows', {
      schema: {
        tags, operationId: 'adminStartWorkflow', summary: 'Start a workflow for any tenant', headers: IdempotencyKeyHeaders, body: AdminStartWorkflowRequest,
        response: { 200: envelope(WorkflowDetailResponse), 201: envelope(WorkflowDetailResponse), ...errorResponses },
      },
    }, async (req, reply) => {
      const b = req.body as { tenant_id: string; service_slug: string; kind?: WorkflowKind; parameters?: Record<string, unknown>; reason?: string };
      const r = await runtime.starter.start({
        tenantId: b.tenant_id, serviceSlug: b.service_slug, kind: b.kind ?? 'provision', parameters: (b.parameters ?? {}) as never,
        idempotencyKey: (req.headers['idempotency-key'] as string | undefined) ?? null, actor: req.caller.sub, reason: b.reason ?? null,
      });
      reply.code(r.created ? 201 : 200);
      return ok(req, await runtime.queries.detail(r.workflowId, null));
    });

    app.post('/admin/provisioning/workflows/:workflow_id/force-complete', {
      preValidation: emptyBodyIsObject,
      schema: { tags, operationId: 'adminForceComplete', summary: 'Skip every unfinished step and complete the workflow', params: WorkflowIdParams, body: AdminActionRequest, response: { 200: envelope(WorkflowDetailResponse), ...errorResponses } },
    }, async (req) => {
      const { workflow_id } = req.params as IdParams;
      await runtime.admin.forceComplete(workflow_id, { actor: req.caller.sub, reason: reasonOf(req.body) });
      return ok(req, await runtime.queries.detail(workflow_id, null));
    });

    app.post('/admin/provisioning/workflows/:workflow_id/retry-step/:step_name', {
      preValidation: emptyBodyIsObject,
      schema: { tags, operationId: 'adminRetryStep', summary: 'Run a failed step again', params: RetryStepParams, body: AdminActionRequest, response: { 200: envelope(WorkflowDetailResponse), ...errorResponses } },
    }, async (req) => {
      const { workflow_id, step_name } = req.params as IdParams & { step_name: string };
      await runtime.admin.retryStep(workflow_id, step_name, { actor: req.caller.sub, reason: reasonOf(req.body) });
      return ok(req, await runtime.queries.detail(workflow_id, null));
    });

    app.post('/admin/provisioning/workflows/:workflow_id/cancel', {
      preValidation: emptyBodyIsObject,
      schema: { tags, operationId: 'adminCancelWorkflow', summary: 'Stop the workflow (optionally compensating what completed)', params: WorkflowIdParams, body: CancelRequest, response: { 200: envelope(WorkflowDetailResponse), ...errorResponses } },
    }, async (req) => {
      const { workflow_id } = req.params as IdParams;
      const compensate = (req.body as { compensate?: boolean } | undefined)?.compensate ?? false;
      await runtime.admin.cancel(workflow_id, compensate, { actor: req.caller.sub, reason: reasonOf(req.body) });
      return ok(req, await runtime.queries.detail(workflow_id, null));
    });

    app.post('/admin/provisioning/workflows/:workflow_id/resolve', {
      schema: {
        tags, operationId: 'resolveWorkflow', summary: 'Record that what a failed rollback left behind was cleaned up by hand: the workflow ends rolled_back',
        params: WorkflowIdParams, body: ResolveRequest, response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
      },
    }, async (req) => {
      const { workflow_id } = req.params as IdParams;
      await runtime.admin.resolve(workflow_id, { actor: req.caller.sub, reason: reasonOf(req.body) });
      return ok(req, await runtime.queries.detail(workflow_id, null));
    });
  };
}

/** Every field of an action body is optional, so no body at all means `{}` (not a 422). */
const emptyBodyIsObject = async (req: { body: unknown }) => { req.body ??= {}; };

const reasonOf = (body: unknown) => (body as { reason?: string } | undefined)?.reason ?? null;
