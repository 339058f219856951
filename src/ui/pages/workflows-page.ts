import { html, type SafeHtml } from '../html.js';
import { page, type PageOptions } from '../layout.js';
import { badge, time } from '../format.js';
import { label } from '../dag-svg.js';
import type { UiSession } from '../session.js';
import { WorkflowStatuses } from '../../domain/model.js';
import type { WorkflowResponse } from '../../domain/views.js';
import { filteredUrl, type ListFilters } from '../list-filters.js';

export type { ListFilters };

export interface WorkflowsPageInput {
  session: UiSession;
  assets: PageOptions['assets'];
  filters: ListFilters;
  items: readonly WorkflowResponse[];
  counts: Record<string, number>;
  nextCursor: string | null;
  services: readonly string[];
}

/** `/ui/workflows` with the given filters and overrides (undefined drops a filter). */
export const listUrl = (f: ListFilters, change: Partial<ListFilters> = {}): string => filteredUrl('/ui/workflows', f, change);

export function workflowsPage(input: WorkflowsPageInput): SafeHtml {
  const { session, filters: f, counts } = input;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const scope = session.admin ? (f.tenant ? `tenant ${f.tenant}` : 'all tenants') : `tenant ${session.caller.tenantId}`;

  const countLinks = html`<ul class="counts" aria-label="Workflows per status">
    <li><a href="${listUrl(f, { status: undefined, cursor: undefined })}" aria-current="${f.status ? 'false' : 'true'}">All <span class="n">${total}</span></a></li>
    ${WorkflowStatuses.map((s) => html`<li><a class="st-${s}" href="${listUrl(f, { status: s, cursor: undefined })}" aria-current="${f.status === s ? 'true' : 'false'}" data-count-status="${s}">${badge(s)} <span class="n">${counts[s] ?? 0}</span></a></li>`)}
  </ul>`;

  const filterForm = html`<form class="filters" method="get" action="/ui/workflows" role="search" aria-label="Filter workflows">
    <div class="field"><label for="f-status">Status</label>
      <select id="f-status" name="status"><option value="">any</option>${WorkflowStatuses.map((s) => html`<option value="${s}"${f.status === s ? html` selected` : ''}>${label(s)}</option>`)}</select></div>
    <div class="field"><label for="f-service">Service</label>
      <select id="f-service" name="service"><option value="">any</option>${serviceOptions(input.services, f.service)}</select></div>
    ${
      session.admin &&
      html`<div class="field"><label for="f-tenant">Tenant</label>
      <input id="f-tenant" name="tenant" value="${f.tenant ?? ''}" placeholder="any tenant" autocomplete="off"></div>`
    }
    <div class="field"><button type="submit" class="primary">Filter</button></div>
    ${(f.status || f.service || f.tenant) && html`<div class="field"><a href="/ui/workflows">Clear filters</a></div>`}
  </form>`;

  const rows = input.items.map(
    (w) => html`<tr data-workflow="${w.id}">
      <td data-label="Workflow"><a class="mono" href="/ui/workflows/${encodeURIComponent(w.id)}">${w.id}</a></td>
      ${session.admin && html`<td data-label="Tenant">${w.tenant_id}</td>`}
      <td data-label="Service" class="num">${w.service_slug} <span class="muted">${w.service_version}</span></td>
      <td data-label="Kind" class="hide-narrow">${w.kind}</td>
      <td data-label="Status">${badge(w.status)}</td>
      <td data-label="Steps done" class="num">${w.steps_completed} / ${w.steps_total}</td>
      <td data-label="Created">${time(w.created_at)}</td>
      <td data-label="Updated" class="hide-narrow">${time(w.updated_at)}</td>
    </tr>`,
  );

  const table =
    input.items.length === 0
      ? html`<p class="card">No workflows match${f.status || f.service || f.tenant ? ' these filters' : ' yet'}.</p>`
      : html`<div class="table-wrap"><table class="stack">
      <caption class="sr-only">Workflows, newest first</caption>
      <thead><tr><th scope="col">Workflow</th>${session.admin && html`<th scope="col">Tenant</th>`}<th scope="col">Service</th>
        <th scope="col" class="hide-narrow">Kind</th><th scope="col">Status</th><th scope="col">Steps done</th>
        <th scope="col">Created</th><th scope="col" class="hide-narrow">Updated</th></tr></thead>
      <tbody>${rows}</tbody></table></div>`;

  const pager = html`<nav class="pager" aria-label="Pages">
    ${f.cursor && html`<a href="${listUrl(f, { cursor: undefined })}">« Newest</a>`}
    ${input.nextCursor && html`<a rel="next" href="${listUrl(f, { cursor: input.nextCursor })}">Older »</a>`}
  </nav>`;

  return page(
    { title: 'Workflows', session, assets: input.assets, nav: 'workflows' },
    html`
<h1>Workflows <span class="muted">· ${scope}</span></h1>
${countLinks}
${filterForm}
${table}
${pager}`,
  );
}

function serviceOptions(services: readonly string[], selected: string | undefined): SafeHtml[] {
  // A filter on a service that is no longer registered still shows as selected.
  const all = selected && !services.includes(selected) ? [...services, selected] : services;
  return all.map((s) => html`<option value="${s}"${s === selected ? html` selected` : ''}>${s}</option>`);
}
