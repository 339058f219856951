import { html, type HtmlValue, type SafeHtml } from './html.js';
import type { UiSession } from './session.js';
import { badge } from './format.js';
import { StepStatuses } from '../domain/model.js';

export interface PageOptions {
  title: string;
  session: UiSession | null;
  /** Asset URLs carry a content hash so they can be cached for good. */
  assets: { css: string; js: string };
  /** Loads the live-update script (detail page). */
  live?: boolean;
  nav?: 'workflows' | 'events';
}

/** The document shell: skip link, top bar (who is signed in, sign out), main content. */
export function page(opts: PageOptions, content: HtmlValue): SafeHtml {
  const s = opts.session;
  const who =
    s &&
    html`<div class="who">
      <span>${s.caller.sub ?? 'signed in'} · ${s.admin ? 'operator (all tenants)' : `tenant ${s.caller.tenantId}`}</span>
      <form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="${s.csrf}"><button type="submit" class="small">Sign out</button></form>
    </div>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${opts.title} · Provisioner</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${opts.assets.css}">
${opts.live && html`<script src="${opts.assets.js}" defer></script>`}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><div class="bar">
  <a class="brand" href="/ui/workflows">Provisioner</a>
  ${s && html`<nav aria-label="Main"><a href="/ui/workflows"${opts.nav === 'workflows' ? html` aria-current="page"` : ''}>Workflows</a>${s.admin && html` <a href="/ui/events"${opts.nav === 'events' ? html` aria-current="page"` : ''}>Subscription events</a>`}</nav>`}
  ${who}
</div></header>
<main id="main" tabindex="-1">
${content}
</main>
</body>
</html>
`;
}

/** The status colour key shown next to the DAG. */
export function legend(): SafeHtml {
  return html`<ul class="legend" aria-label="Status colours">${StepStatuses.map((s) => html`<li>${badge(s)}</li>`)}</ul>`;
}
