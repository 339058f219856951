import { createHash } from 'node:crypto';
import { html, type SafeHtml } from '../html.js';
import { legend, page, type PageOptions } from '../layout.js';
import { badge, isEmptyJson, jsonText, time } from '../format.js';
import { renderDagSvg } from '../dag-svg.js';
import { UI_ACTIONS, actionUrl, type UiActionName } from '../actions.js';
import type { UiSession } from '../session.js';
import { workflowVersion, type EventView, type WorkflowDetail } from '../../engine/workflow-queries.js';
import type { StepResponse } from '../../domain/views.js';
import { isActiveWorkflow, isMoving } from '../../domain/model.js';

export interface LiveInput {
  session: UiSession;
  wf: WorkflowDetail;
  /** Newest first. */
  events: readonly EventView[];
  /** How many events were read, and whether there are more beyond those. */
  eventsTotal: number;
  eventsMore?: boolean;
}

/** The live section's ETag: the workflow's version, per audience (an operator and a tenant see different pages). */
export function liveEtag(version: string, tenantScope: string | null): string {
  return `"${version}-${tenantScope === null ? 'all' : createHash('sha256').update(tenantScope).digest('base64url').slice(0, 8)}"`;
}

export interface WorkflowPageInput extends LiveInput {
  assets: PageOptions['assets'];
  /** A fixed notice after an action (chosen by action name, never text from the URL). */
  done: UiActionName | null;
}

/** A workflow in an active status, or with a moving step, will still change by itself. */
export function isLive(wf: WorkflowDetail): boolean {
  return isActiveWorkflow(wf.status) || wf.steps.some((s) => isMoving(s.status));
}

export const fragmentUrl = (id: string) => `/ui/workflows/${encodeURIComponent(id)}/fragment`;

export function workflowPage(input: WorkflowPageInput): SafeHtml {
  const { wf } = input;
  const live = renderLive(input);
  return page(
    { title: `${wf.service_slug} ${wf.kind} ${wf.id}`, session: input.session, assets: input.assets, live: true, nav: 'workflows' },
    html`
<p><a href="/ui/workflows">« Workflows</a></p>
<h1>${wf.service_slug} · ${wf.kind} <span class="muted mono">${wf.id}</span></h1>
${input.done && html`<p class="notice" role="status">${UI_ACTIONS[input.done].done}</p>`}
<p id="live-note" class="live-note" role="status"></p>
<noscript><p class="live-note">Reload the page to see progress.</p></noscript>
${live.html}`,
  );
}

/**
 * The part of the page that changes while the workflow runs: summary, actions, DAG, steps and
 * events. The fragment route returns exactly this, and its ETag is the hash of this markup.
 */
export function renderLive(input: LiveInput): { html: SafeHtml; etag: string } {
  const { wf, session } = input;
  const inner = html`
<p class="statusline"><span data-workflow-status="${wf.status}">${badge(wf.status)}</span>
  <span><strong>${wf.steps_completed}</strong> of <strong>${wf.steps_total}</strong> steps done</span>
  <span>tenant <strong>${wf.tenant_id}</strong></span>
  <span>updated ${time(wf.updated_at)}</span></p>
<h2 id="dag-title" class="sr-only">Steps graph</h2>
<div class="dag-wrap" role="figure" aria-labelledby="dag-title">${renderDagSvg(wf.steps)}${legend()}</div>
<div class="summary">
  <section class="card" aria-labelledby="sum-title">
    <h2 id="sum-title" class="h-inline">Workflow</h2>
    <dl class="facts">
      <dt>Service</dt><dd>${wf.service_slug} ${wf.service_version} (${wf.kind})</dd>
      <dt>Tenant</dt><dd>${wf.tenant_id}</dd>
      <dt>Created</dt><dd>${time(wf.created_at)}</dd>
      <dt>Started</dt><dd>${time(wf.started_at)}</dd>
      <dt>Finished</dt><dd>${time(wf.completed_at)}</dd>
      ${wf.endpoint && html`<dt>Endpoint</dt><dd class="mono">${wf.endpoint}</dd>`}
      <dt>Credentials</dt><dd>${wf.has_credentials ? 'stored encrypted (never shown here)' : 'none'}</dd>
      ${wf.error && html`<dt>Error</dt><dd class="error"><pre data-workflow-error>${wf.error}</pre></dd>`}
    </dl>
  </section>
  <section class="card" aria-labelledby="params-title">
    <h2 id="params-title" class="h-inline">Parameters</h2>
    ${isEmptyJson(wf.parameters) ? html`<p class="muted">none</p>` : html`<pre data-parameters>${jsonText(wf.parameters)}</pre>`}
    ${session.admin && workflowActions(wf)}
  </section>
</div>
<h2 id="steps-title">Steps</h2>
<div class="steps">${wf.steps.map((s) => stepPanel(wf, s, session))}</div>
<h2 id="events">History</h2>
${eventsTable(input.events, input.eventsTotal, input.eventsMore ?? false)}`;
  const etag = liveEtag(workflowVersion(Date.parse(wf.updated_at), wf.status, wf.steps_completed), session.tenantScope);
  return {
    etag,
    html: html`<section id="live" data-live="${isLive(wf) ? 'true' : 'false'}" data-etag="${etag}" data-fragment="${fragmentUrl(wf.id)}">${inner}</section>`,
  };
}

function workflowActions(wf: WorkflowDetail): SafeHtml | null {
  const offered = (['force-complete', 'cancel'] as const).filter((n) => UI_ACTIONS[n].offered(wf, null));
  if (offered.length === 0) return null;
  return html`<h2 class="h-inline">Operator actions</h2><div class="actions">${offered.map((n) => html`<a class="button${UI_ACTIONS[n].danger ? ' danger' : ''}" id="act-${n}" href="${actionUrl(wf.id, n)}">${UI_ACTIONS[n].title}…</a>`)}</div>`;
}

function stepPanel(wf: WorkflowDetail, s: StepResponse, session: UiSession): SafeHtml {
  // A wait's next run is its deadline; a poll or a retry has a next run before (or without) one.
  const nextRun = s.next_run_at !== null && s.next_run_at !== s.deadline_at ? s.next_run_at : null;
  return html`<article class="card step st-${s.status}" id="step-${s.name}" data-step-panel="${s.name}" aria-labelledby="step-title-${s.name}">
  <header><h3 id="step-title-${s.name}">${s.name}</h3>${badge(s.status)}</header>
  <dl class="facts">
    <dt>Type</dt><dd>${s.type}</dd>
    ${s.depends_on.length > 0 && html`<dt>After</dt><dd>${s.depends_on.join(', ')}</dd>`}
    <dt>Attempts</dt><dd>${s.attempt} of ${s.max_attempts}${s.retry_count > 0 ? html` <span class="muted">(operator retries: ${s.retry_count})</span>` : ''}</dd>
    ${s.type === 'poll' && html`<dt>Polls</dt><dd>${s.poll_count}</dd>`}
    <dt>Started</dt><dd>${time(s.started_at)}</dd>
    <dt>Finished</dt><dd>${time(s.completed_at)}</dd>
    ${s.waiting_reason && html`<dt>Waiting</dt><dd>${s.waiting_reason}</dd>`}
    ${nextRun && html`<dt>Next run</dt><dd>${time(nextRun)}</dd>`}
    ${s.deadline_at && html`<dt>Deadline</dt><dd>${time(s.deadline_at)}</dd>`}
    ${s.endpoint && html`<dt>Endpoint</dt><dd class="mono">${s.endpoint}</dd>`}
    ${s.error && html`<dt>Error</dt><dd class="error"><pre data-step-error>${s.error}</pre></dd>`}
    ${!isEmptyJson(s.progress) && html`<dt>Progress</dt><dd><pre>${jsonText(s.progress)}</pre></dd>`}
    ${!isEmptyJson(s.output) && html`<dt>Output</dt><dd><pre>${jsonText(s.output)}</pre></dd>`}
  </dl>
  ${session.admin && UI_ACTIONS['retry-step'].offered(wf, s) && html`<div class="actions"><a class="button" id="act-retry-${s.name}" href="${actionUrl(wf.id, 'retry-step', s.name)}">Retry step…</a></div>`}
</article>`;
}

function eventsTable(events: readonly EventView[], total: number, more: boolean): SafeHtml {
  if (events.length === 0) return html`<p class="muted">No events yet.</p>`;
  return html`${
    (more || total > events.length) &&
    html`<p class="muted">Showing the newest ${events.length} of ${more ? `more than ${total}` : total} events;
    GET /api/v1/provisioning/workflows/{id}/events lists them all.</p>`
  }
<div class="table-wrap"><table class="events stack">
  <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Step</th><th scope="col" class="hide-narrow">Attempt</th>
    <th scope="col">By</th><th scope="col">Details</th></tr></thead>
  <tbody>${events.map(
    (e) => html`<tr data-event="${e.type}">
    <td data-label="Time" class="num">${time(e.created_at)}</td>
    <td data-label="Event"><code>${e.type}</code></td>
    <td data-label="Step">${e.step_name ?? ''}</td>
    <td data-label="Attempt" class="num hide-narrow">${e.attempt ?? ''}</td>
    <td data-label="By">${e.actor ?? ''}</td>
    <td data-label="Details" class="data">${e.reason && html`<div>Reason: ${e.reason}</div>`}${!isEmptyJson(e.data) && html`<code>${jsonText(e.data, 0)}</code>`}</td>
  </tr>`,
  )}</tbody>
</table></div>`;
}
