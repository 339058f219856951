import { html, type SafeHtml } from './html.js';
import { label } from './dag-svg.js';
import { redactSecrets } from '../domain/secrets.js';

/** `<time>` with the ISO value in `datetime` and a compact UTC rendering (…Z); a dash for null. */
export function time(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').replace(/(\.\d+)?Z$/, 'Z')}</time>`;
}

export function badge(status: string): SafeHtml {
  return html`<span class="badge st-${status}">${label(status)}</span>`;
}

// Outputs and events never carry credentials (the engine strips and encrypts them); this is a second
// line so that a service echoing a secret under an obvious key is not displayed on an operator's screen.
// One rule for what a secret is: src/domain/secrets.ts.
export { redactSecrets } from '../domain/secrets.js';

export function jsonText(value: unknown, indent = 2): string {
  return JSON.stringify(redactSecrets(value), null, indent) ?? 'null';
}

export function isEmptyJson(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'object' && Object.keys(value).length === 0);
}
