import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.js';
import { webhookLeases } from './0002-webhook-leases.js';
import { workflowTraceParent } from './0003-workflow-trace-parent.js';
import { workflowCancelRequested } from './0004-workflow-cancel-requested.js';
import { stepsDueByTenant } from './0005-steps-due-by-tenant.js';
import { workers } from './0006-workers.js';
import { stepResponse } from './0007-step-response.js';
import { registryIdentity } from './0008-registry-identity.js';
import { subscriptionEvents } from './0012-subscription-events.js';
import { hotUpdates } from './0013-hot-updates.js';

/** Static provider: migrations are compiled in, so a bundle or a tsx run finds them the same way. */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-webhook-leases': webhookLeases,
  '0003-workflow-trace-parent': workflowTraceParent,
  '0004-workflow-cancel-requested': workflowCancelRequested,
  '0005-steps-due-by-tenant': stepsDueByTenant,
  '0006-workers': workers,
  '0007-step-response': stepResponse,
  '0008-registry-identity': registryIdentity,
  '0012-subscription-events': subscriptionEvents,
  '0013-hot-updates': hotUpdates,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
