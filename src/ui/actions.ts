import type { Runtime } from '../runtime.js';
import type { WorkflowDetail } from '../engine/workflow-queries.js';
import type { StepResponse } from '../domain/views.js';
import { TerminalWorkflowStatuses } from '../domain/model.js';
import type { Actor } from '../engine/admin-actions.js';

export interface ActionInput {
  step: string | null;
  compensate: boolean;
}

export interface UiAction {
  /** Button and page title, e.g. "Retry step". */
  title: string;
  /** What happens, for the confirmation page. */
  explain(wf: WorkflowDetail, step: StepResponse | null): string;
  /** The action works on one step (named by `step`). */
  perStep: boolean;
  /** Offers the "run compensations" choice. */
  offersCompensate: boolean;
  danger: boolean;
  /** The notice shown on the workflow page after it succeeded. */
  done: string;
  /** Whether to offer the button; the engine has the last word and answers 409 with its reason. */
  offered(wf: WorkflowDetail, step: StepResponse | null): boolean;
  run(rt: Runtime, workflowId: string, input: ActionInput, actor: Actor): Promise<void>;
}

const settled = (wf: WorkflowDetail) => TerminalWorkflowStatuses.includes(wf.status);

/** The admin actions of the detail page, one entry each; routes and pages are generic over this table. */
export const UI_ACTION_NAMES = ['retry-step', 'force-complete', 'cancel'] as const;
export type UiActionName = (typeof UI_ACTION_NAMES)[number];

export const UI_ACTIONS: Readonly<Record<UiActionName, UiAction>> = {
  'retry-step': {
    title: 'Retry step',
    explain: (_wf, step) =>
      `Step ${step?.name ?? '?'} goes back to pending with retry_count + 1 and runs again; the workflow returns to running.`,
    perStep: true,
    offersCompensate: false,
    danger: false,
    done: 'The step was queued to run again.',
    offered: (wf, step) => step?.status === 'failed' && !settled(wf) && wf.status !== 'rolling_back',
    run: (rt, id, input, actor) => rt.admin.retryStep(id, input.step ?? '', actor),
  },
  'force-complete': {
    title: 'Force-complete',
    explain: () =>
      'Every pending, running or waiting step becomes skipped and the workflow is marked completed. No further requests are sent.',
    perStep: false,
    offersCompensate: false,
    danger: true,
    done: 'The workflow was force-completed.',
    offered: (wf) => !settled(wf) && wf.status !== 'rolling_back',
    run: (rt, id, _input, actor) => rt.admin.forceComplete(id, actor),
  },
  cancel: {
    title: 'Cancel workflow',
    explain: () => 'The workflow stops: unfinished steps are cancelled and their callback tokens stop working.',
    perStep: false,
    offersCompensate: true,
    danger: true,
    done: 'The workflow was cancelled.',
    offered: (wf) => !settled(wf),
    run: (rt, id, input, actor) => rt.admin.cancel(id, input.compensate, actor),
  },
};

export function uiAction(name: string): { name: UiActionName; action: UiAction } | null {
  const found = UI_ACTION_NAMES.find((n) => n === name);
  return found ? { name: found, action: UI_ACTIONS[found] } : null;
}

export function actionUrl(workflowId: string, name: UiActionName, step?: string): string {
  const base = `/ui/workflows/${encodeURIComponent(workflowId)}/actions/${name}`;
  return step ? `${base}?step=${encodeURIComponent(step)}` : base;
}

export const REASON_MAX = 1000;
