import { html, type SafeHtml } from '../html.js';
import { page, type PageOptions } from '../layout.js';
import { badge, time } from '../format.js';
import type { UiSession } from '../session.js';
import { filteredUrl, type ListFilters } from '../list-filters.js';
import { SubscriptionEventStatuses, type SubscriptionEventResponse } from '../../domain/subscription-event.js';

export type EventFilters = ListFilters;

export const eventsUrl = (f: EventFilters, change: Partial<EventFilters> = {}): string => filteredUrl('/ui/events', f, change);

/** `/ui/events`: ScaiControl's subscription events, newest first, each with what became of it and why. */
export function subscriptionEventsPage(input: {
  session: UiSession;
  assets: PageOptions['assets'];
  filters: EventFilters;
  items: readonly SubscriptionEventResponse[];
  nextCursor: string | null;
}): SafeHtml {
  const f = input.filters;
  const filterForm = html`<form class="filters" method="get" action="/ui/events" role="search" aria-label="Filter subscription events">
    <div class="field"><label for="e-status">Status</label>
      <select id="e-status" name="status"><option value="">any</option>${SubscriptionEventStatuses.map((s) => html`<option value="${s}"${f.status === s ? html` selected` : ''}>${s}</option>`)}</select></div>
    <div class="field"><label for="e-service">Service</label><input id="e-service" name="service" value="${f.service ?? ''}" placeholder="any service" autocomplete="off"></div>
    <div class="field"><label for="e-tenant">Tenant</label><input id="e-tenant" name="tenant" value="${f.tenant ?? ''}" placeholder="any tenant" autocomplete="off"></div>
    <div class="field"><button type="submit" class="primary">Filter</button></div>
    ${(f.status || f.service || f.tenant) && html`<div class="field"><a href="/ui/events">Clear filters</a></div>`}
  </form>`;
  const rows = input.items.map(
    (e) => html`<tr data-event="${e.event_id}">
      <td data-label="Event"><span class="mono">${e.event_id}</span><br><span class="muted">${e.event_type}</span></td>
      <td data-label="Tenant">${e.tenant_id ?? '—'}</td>
      <td data-label="Service">${e.service_slug ?? '—'}</td>
      <td data-label="Action">${e.action ?? '—'}</td>
      <td data-label="Status">${badge(e.status)}</td>
      <td data-label="Workflow">${e.workflow_id ? html`<a class="mono" href="/ui/workflows/${encodeURIComponent(e.workflow_id)}">${e.workflow_id}</a>` : '—'}</td>
      <td data-label="Reason">${e.reason ?? ''}</td>
      <td data-label="Occurred">${time(e.occurred_at)}</td>
      <td data-label="Received" class="hide-narrow">${time(e.received_at)}</td>
    </tr>`,
  );
  const table =
    input.items.length === 0
      ? html`<p class="card">No subscription events${f.status || f.service || f.tenant ? ' match these filters' : ' yet'}.</p>`
      : html`<div class="table-wrap"><table class="stack">
      <caption class="sr-only">Subscription events, newest first</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">Tenant</th><th scope="col">Service</th><th scope="col">Action</th>
        <th scope="col">Status</th><th scope="col">Workflow</th><th scope="col">Reason</th><th scope="col">Occurred</th>
        <th scope="col" class="hide-narrow">Received</th></tr></thead>
      <tbody>${rows}</tbody></table></div>`;
  const pager = html`<nav class="pager" aria-label="Pages">
    ${f.cursor && html`<a href="${eventsUrl(f, { cursor: undefined })}">« Newest</a>`}
    ${input.nextCursor && html`<a rel="next" href="${eventsUrl(f, { cursor: input.nextCursor })}">Older »</a>`}
  </nav>`;
  return page(
    { title: 'Subscription events', session: input.session, assets: input.assets, nav: 'events' },
    html`
<h1>Subscription events <span class="muted">· from ScaiControl</span></h1>
${filterForm}
${table}
${pager}`,
  );
}
