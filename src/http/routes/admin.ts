import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../runtime.js';
import { isAdmin } from '../../domain/caller.js';
import { WorkflowResponse } from '../../domain/views.js';
import { ok, page } from '../envelope.js';
import { requireCaller } from '../auth.js';
import { envelope, errorResponses, listEnvelope } from '../schemas/common.js';
import {
  AdminActionRequest,
  AdminStartWorkflowRequest,
  AdminWorkflowListQuery,
  CancelRequest,
  EventsQuery,
  ResolveRequest,
  RetryStepParams,
  StuckQuery,
  StuckWorkflowResponse,
  WorkflowDetailResponse,
  WorkflowEventResponse,
  WorkflowIdParams,
} from '../schemas/provisioning.js';
import { IdempotencyKeyHeaders } from '../schemas/headers.js';

const tags = ['Admin'];

export interface AdminRouteDeps {
  queries: Runtime['queries'];
  starter: Runtime['starter'];
  admin: Runtime['admin'];
  /** The default of `older_than_s` on the stuck list (PROVISIONER_STUCK_AFTER_S). */
  stuckAfterS: number;
}

/** Operators: every tenant, and the repair actions (DESIGN §5 admin). Each action records who and why. */
export function adminRoutes({ queries, starter, admin, stuckAfterS }: AdminRouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.addHook('preHandler', requireCaller(isAdmin, 'admin endpoints need permission admin:provisioning or role super_admin'));

    app.get(
      '/admin/provisioning/workflows',
      {
        schema: {
          tags,
          operationId: 'adminListWorkflows',
          summary: 'Workflows of all tenants, newest first',
          querystring: AdminWorkflowListQuery,
          response: { 200: listEnvelope(WorkflowResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await queries.list({
          tenantId: q.tenant_id,
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
      '/admin/provisioning/workflows/:workflow_id',
      {
        schema: {
          tags,
          operationId: 'adminGetWorkflow',
          summary: "Any tenant's workflow",
          params: WorkflowIdParams,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => ok(req, await queries.detail(req.params.workflow_id, null)),
    );

    app.get(
      '/admin/provisioning/workflows/:workflow_id/events',
      {
        schema: {
          tags,
          operationId: 'adminListWorkflowEvents',
          summary: "Any tenant's workflow history",
          params: WorkflowIdParams,
          querystring: EventsQuery,
          response: { 200: listEnvelope(WorkflowEventResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await queries.events(req.params.workflow_id, null, q.cursor, q.limit);
        return page(req, r.items, { limit: q.limit, next_cursor: r.nextCursor });
      },
    );

    app.get(
      '/admin/provisioning/stuck',
      {
        schema: {
          tags,
          operationId: 'adminListStuckWorkflows',
          summary: 'Unfinished workflows without progress for longer than older_than_s, oldest first, each with why',
          querystring: StuckQuery,
          response: { 200: listEnvelope(StuckWorkflowResponse), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const items = await queries.stuck({ olderThanS: q.older_than_s ?? stuckAfterS, limit: q.limit });
        return page(req, items, { limit: q.limit, next_cursor: null });
      },
    );

    app.post(
      '/admin/provisioning/workflows',
      {
        schema: {
          tags,
          operationId: 'adminStartWorkflow',
          summary: 'Start a workflow for any tenant',
          headers: IdempotencyKeyHeaders,
          body: AdminStartWorkflowRequest,
          response: { 200: envelope(WorkflowDetailResponse), 201: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const r = await starter.start({
          tenantId: b.tenant_id,
          serviceSlug: b.service_slug,
          kind: b.kind,
          parameters: b.parameters,
          idempotencyKey: req.headers['idempotency-key'] ?? null,
          actor: req.caller.sub,
          reason: b.reason ?? null,
        });
        reply.code(r.created ? 201 : 200);
        return ok(req, await queries.detail(r.workflowId, null));
      },
    );

    app.post(
      '/admin/provisioning/workflows/:workflow_id/force-complete',
      {
        preValidation: emptyBodyIsObject,
        schema: {
          tags,
          operationId: 'adminForceComplete',
          summary: 'Skip every unfinished step and complete the workflow',
          params: WorkflowIdParams,
          body: AdminActionRequest,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { workflow_id } = req.params;
        await admin.forceComplete(workflow_id, { actor: req.caller.sub, reason: req.body.reason ?? null });
        return ok(req, await queries.detail(workflow_id, null));
      },
    );

    app.post(
      '/admin/provisioning/workflows/:workflow_id/retry-step/:step_name',
      {
        preValidation: emptyBodyIsObject,
        schema: {
          tags,
          operationId: 'adminRetryStep',
          summary: 'Run a failed step again',
          params: RetryStepParams,
          body: AdminActionRequest,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { workflow_id, step_name } = req.params;
        await admin.retryStep(workflow_id, step_name, { actor: req.caller.sub, reason: req.body.reason ?? null });
        return ok(req, await queries.detail(workflow_id, null));
      },
    );

    app.post(
      '/admin/provisioning/workflows/:workflow_id/cancel',
      {
        preValidation: emptyBodyIsObject,
        schema: {
          tags,
          operationId: 'adminCancelWorkflow',
          summary: 'Stop the workflow (optionally compensating what completed)',
          params: WorkflowIdParams,
          body: CancelRequest,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { workflow_id } = req.params;
        await admin.cancel(workflow_id, req.body.compensate, { actor: req.caller.sub, reason: req.body.reason ?? null });
        return ok(req, await queries.detail(workflow_id, null));
      },
    );

    app.post(
      '/admin/provisioning/workflows/:workflow_id/resolve',
      {
        schema: {
          tags,
          operationId: 'resolveWorkflow',
          summary: 'Record that what a failed rollback left behind was cleaned up by hand: the workflow ends rolled_back',
          params: WorkflowIdParams,
          body: ResolveRequest,
          response: { 200: envelope(WorkflowDetailResponse), ...errorResponses },
        },
      },
      async (req) => {
        const { workflow_id } = req.params;
        await admin.resolve(workflow_id, { actor: req.caller.sub, reason: req.body.reason });
        return ok(req, await queries.detail(workflow_id, null));
      },
    );
  };
}

/** Every field of an action body is optional, so no body at all means `{}` (not a 422). */
const emptyBodyIsObject = async (req: { body: unknown }) => {
  req.body ??= {};
};
