import type { Generated } from 'kysely';
import type { EventRecord, OutboxRecord, StepRecord, WorkflowRecord } from '../domain/records.js';

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

export type WorkflowsTable = WorkflowRecord;

export type StepsTable = StepRecord;

export type EventsTable = EventRecord;

export type OutboxTable = OutboxRecord;

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

/** Added by 0012: ScaiControl's subscription events and what became of each (issue 14). */
export interface SubscriptionEventsTable {
  id: string;
  event_id: string;
  idempotency_key: string | null;
  event_type: string;
  event_version: string | null;
  source: string | null;
  occurred_at: number;
  subscription_id: string | null;
  tenant_id: string | null;
  service_slug: string | null;
  action: string | null;
  parameters: string | null;
  status: string;
  reason: string | null;
  workflow_id: string | null;
  blocked_by: string | null;
  payload: string;
  received_at: number;
  updated_at: number;
}

export interface WorkersTable {
  id: string;
  started_at: number;
  heartbeat_at: number;
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
  workers: WorkersTable;
  events: EventsTable;
  outbox: OutboxTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  subscription_events: SubscriptionEventsTable;
}
