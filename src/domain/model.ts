import type { Json, JsonObject } from './json.js';
import type { StepSpec } from './step-specs.js';

export const WorkflowStatuses = ['pending', 'running', 'completed', 'failed', 'rolling_back', 'rolled_back', 'cancelled'] as const;
export type WorkflowStatus = (typeof WorkflowStatuses)[number];
export const ActiveWorkflowStatuses: readonly WorkflowStatus[] = ['pending', 'running', 'rolling_back'];
export const TerminalWorkflowStatuses: readonly WorkflowStatus[] = ['completed', 'rolled_back', 'cancelled'];
/** Not ended: an operator can still act (a `failed` workflow is held, or its rollback could not finish). */
export const OpenWorkflowStatuses: readonly WorkflowStatus[] = ['pending', 'running', 'failed', 'rolling_back'];
/** Going forward, or held on a failure: not rolling back and not ended. */
export const ForwardWorkflowStatuses: readonly WorkflowStatus[] = ['pending', 'running', 'failed'];

export const StepStatuses = [
  'pending',
  'running',
  'waiting_callback',
  'waiting_poll',
  'completed',
  'failed',
  'skipped',
  'cancelled',
  'compensating',
  'compensated',
] as const;
export type StepStatus = (typeof StepStatuses)[number];
/** Steps that hold the workflow open: something is under way or waits for an answer. */
export const InFlightStepStatuses: readonly StepStatus[] = ['running', 'waiting_callback', 'waiting_poll'];
export const UnfinishedStepStatuses: readonly StepStatus[] = ['pending', 'running', 'waiting_callback', 'waiting_poll'];
/** Unfinished with no request in flight: a rollback ends these at once (a running one finishes its attempt). */
export const IdleUnfinishedStepStatuses: readonly StepStatus[] = ['pending', 'waiting_callback', 'waiting_poll'];
/** The step will still change by itself: a request is out, it waits for an answer, or it is being compensated. */
export const MovingStepStatuses: readonly StepStatus[] = [...InFlightStepStatuses, 'compensating'];
/** A dependency in one of these lets its children start. */
export const SatisfiedStepStatuses: readonly StepStatus[] = ['completed', 'skipped'];

export const isInFlight = (s: string): boolean => (InFlightStepStatuses as readonly string[]).includes(s);
export const isSatisfied = (s: string): boolean => (SatisfiedStepStatuses as readonly string[]).includes(s);
export const isMoving = (s: string): boolean => (MovingStepStatuses as readonly string[]).includes(s);
export const isWaiting = (s: string): boolean => s === 'waiting_callback' || s === 'waiting_poll';
export const isUnfinished = (s: string): boolean => (UnfinishedStepStatuses as readonly string[]).includes(s);
export const isActiveWorkflow = (s: string): boolean => (ActiveWorkflowStatuses as readonly string[]).includes(s);
export const isOpenWorkflow = (s: string): boolean => (OpenWorkflowStatuses as readonly string[]).includes(s);
export const isForwardWorkflow = (s: string): boolean => (ForwardWorkflowStatuses as readonly string[]).includes(s);

export const WorkflowKinds = ['provision', 'update', 'deprovision'] as const;
export type WorkflowKind = (typeof WorkflowKinds)[number];

export const ReportStatuses = ['completed', 'failed', 'in_progress'] as const;
export type ReportStatus = (typeof ReportStatuses)[number];

/** What a service reports, by callback or as a poll result (DESIGN §6): one shape for both. */
export interface Report {
  status: ReportStatus;
  endpoint?: string | null;
  credentials?: JsonObject | null;
  error?: string | null;
  metadata?: JsonObject | null;
}

const REPORT_ALIASES: Record<string, ReportStatus> = {
  completed: 'completed',
  success: 'completed',
  succeeded: 'completed',
  failed: 'failed',
  error: 'failed',
  in_progress: 'in_progress',
  running: 'in_progress',
  pending: 'in_progress',
};
export const ReportStatusInputs = Object.keys(REPORT_ALIASES);
export function normalizeReportStatus(s: string): ReportStatus | null {
  return REPORT_ALIASES[s.toLowerCase()] ?? null;
}

export interface Workflow {
  id: string;
  tenantId: string;
  serviceSlug: string;
  serviceVersion: string;
  kind: WorkflowKind;
  status: WorkflowStatus;
  parameters: JsonObject;
  endpoint: string | null;
  hasCredentials: boolean;
  error: string | null;
  onFailure: 'rollback' | 'hold';
  baseUrl: string;
  provisionWorkflowId: string | null;
  stepsTotal: number;
  stepsCompleted: number;
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  completedAt: number | null;
  lastProgressAt: number;
}

export interface Step {
  id: string;
  workflowId: string;
  tenantId: string;
  name: string;
  position: number;
  type: StepSpec['type'];
  status: StepStatus;
  dependsOn: string[];
  spec: StepSpec;
  state: JsonObject;
  attempt: number;
  compensationAttempt: number;
  retryCount: number;
  maxAttempts: number;
  timeoutMs: number;
  waitingReason: string | null;
  nextRunAt: number | null;
  deadlineAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  hasCallbackToken: boolean;
  reportHash: string | null;
  earlyReport: Report | null;
  progress: Json | null;
  pollCount: number;
  firstPollAt: number | null;
  startedAt: number | null;
  completedAt: number | null;
  error: string | null;
  output: Json | null;
  endpoint: string | null;
  updatedAt: number;
}

export interface WorkflowEvent {
  id: string;
  workflowId: string;
  tenantId: string;
  type: string;
  stepName: string | null;
  attempt: number | null;
  actor: string | null;
  reason: string | null;
  data: JsonObject;
  createdAt: number;
}
