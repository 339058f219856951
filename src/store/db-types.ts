import type { Generated } from 'kysely';

/**
 * Column conventions, the same on both databases: times are epoch milliseconds (BIGINT), JSON is TEXT,
 * booleans are 0/1. Row mappers in the repositories turn them into domain values.
 */
export interface ServicesTable {
  slug: string;
  name: string;
  version: string;
  base_url: string;
  manifest: string;
  status: string;
  status_detail: string | null;
  created_at: number;
  updated_at: number;
  last_heartbeat_at: number | null;
  /** Sealed with the credential cipher (migration 0008); null until issued. */
  signing_secret: string | null;
}

export interface ServiceVersionsTable {
  id: string;
  slug: string;
  version: string;
  manifest: string;
  created_at: number;
  actor: string | null;
  reason: string | null;
}

export interface RegistryAuditTable {
  id: string;
  slug: string;
  action: string;
  actor: string;
  reason: string | null;
  version: string | null;
  created_at: number;
}

export interface WorkflowsTable {
  id: string;
  tenant_id: string;
  service_slug: string;
  service_version: string;
  kind: string;
  status: string;
  parameters: string;
  endpoint: string | null;
  credentials: string | null;
  error: string | null;
  on_failure: string;
  base_url: string;
  idempotency_key: string | null;
  provision_workflow_id: string | null;
  steps_total: number;
  steps_completed: number;
  created_at: number;
  started_at: number | null;
  updated_at: number;
  completed_at: number | null;
  last_progress_at: number;
  /** Added by 0003: the `traceparent` of the request that started the workflow. */
  trace_parent: string | null;
  cancel_requested_at: number | null;
}

export interface StepsTable {
  id: string;
  workflow_id: string;
  tenant_id: string;
  name: string;
  position: number;
  type: string;
  status: string;
  depends_on: string;
  spec: string;
  state: string;
  attempt: number;
  compensation_attempt: number;
  retry_count: number;
  max_attempts: number;
  timeout_ms: number;
  waiting_reason: string | null;
  next_run_at: number | null;
  deadline_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  callback_token_hash: string | null;
  report_hash: string | null;
  early_report: string | null;
  progress: string | null;
  poll_count: number;
  first_poll_at: number | null;
  started_at: number | null;
  completed_at: number | null;
  error: string | null;
  output: string | null;
  endpoint: string | null;
  updated_at: number;
}

export interface EventsTable {
  id: string;
  workflow_id: string;
  tenant_id: string;
  type: string;
  step_name: string | null;
  attempt: number | null;
  actor: string | null;
  reason: string | null;
  data: string;
  created_at: number;
}

export interface OutboxTable {
  id: string;
  topic: string;
  payload: string;
  created_at: number;
  dispatched_at: number | null;
}

export interface WebhookSubscriptionsTable {
  id: string;
  target_url: string;
  secret: string;
  topics: string;
  created_at: number;
  created_by: string | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  lease_expires_at: number | null;
  /** Added by 0002: the claim that holds the lease; results are fenced on it. */
  lease_owner: string | null;
  last_attempt_at: number | null;
  last_error: string | null;
  last_status_code: number | null;
  created_at: number;
  delivered_at: number | null;
}

export interface SchemaInfoTable {
  id: Generated<number>;
}

export interface Db {
  services: ServicesTable;
  service_versions: ServiceVersionsTable;
  registry_audit: RegistryAuditTable;
  workflows: WorkflowsTable;
  steps: StepsTable;
  events: EventsTable;
  outbox: OutboxTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
