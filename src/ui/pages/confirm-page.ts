import { html, type SafeHtml } from '../html.js';
import { page, type PageOptions } from '../layout.js';
import { badge } from '../format.js';
import { REASON_MAX, UI_ACTIONS, actionUrl, type UiActionName } from '../actions.js';
import type { UiSession } from '../session.js';
import type { WorkflowDetail } from '../../engine/workflow-queries.js';
import type { StepResponse } from '../../domain/views.js';

export interface ConfirmPageInput {
  session: UiSession;
  assets: PageOptions['assets'];
  wf: WorkflowDetail;
  name: UiActionName;
  step: StepResponse | null;
  /** What the operator typed, when the page comes back with a problem. */
  reason?: string;
  compensate?: boolean;
  problem?: string | null;
}

/**
 * The confirmation step of an admin action: a page of its own, so it works without JavaScript and
 * the live updates of the workflow page never wipe a half-typed reason. The reason is required.
 */
export function confirmPage(input: ConfirmPageInput): SafeHtml {
  const { wf, name, step } = input;
  const action = UI_ACTIONS[name];
  return page(
    { title: `${action.title} · ${wf.id}`, session: input.session, assets: input.assets, nav: 'workflows' },
    html`
<p><a href="/ui/workflows/${encodeURIComponent(wf.id)}">« Back to the workflow</a></p>
<section class="card confirm" aria-labelledby="confirm-title">
  <h1 id="confirm-title">${action.title}?</h1>
  ${input.problem && html`<p class="notice error" role="alert">${input.problem}</p>`}
  <p>Workflow <code>${wf.id}</code> (${wf.service_slug} ${wf.kind} for tenant ${wf.tenant_id}) is ${badge(wf.status)}${
    step
      ? html`;
    its step <strong>${step.name}</strong> is ${badge(step.status)}`
      : ''
  }.</p>
  <p>${action.explain(wf, step)}</p>
  ${step?.error && html`<p>Last error:</p><pre>${step.error}</pre>`}
  <form method="post" action="${actionUrl(wf.id, name)}">
    <input type="hidden" name="csrf" value="${input.session.csrf}">
    ${step && html`<input type="hidden" name="step" value="${step.name}">`}
    <div class="field"><label for="reason">Reason (recorded in the audit history)</label>
      <textarea id="reason" name="reason" required maxlength="${REASON_MAX}" autofocus>${input.reason ?? ''}</textarea></div>
    ${
      action.offersCompensate &&
      html`<div class="field"><label><input type="checkbox" name="compensate" value="1"${input.compensate ? html` checked` : ''}>
      Roll back: run the compensations of completed steps</label></div>`
    }
    <div class="actions">
      <button type="submit" class="${action.danger ? 'danger' : 'primary'}" id="confirm">Confirm: ${action.title.toLowerCase()}</button>
      <a class="button" href="/ui/workflows/${encodeURIComponent(wf.id)}">Keep it as it is</a>
    </div>
  </form>
</section>`,
  );
}
