import { html, type SafeHtml } from './html.js';
import { label } from './dag-svg.js';
import { isSecretKey } from '../domain/secret-keys.js';

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
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isSecretKey(k) ? '[redacted]' : redactSecrets(v)]));
  }
  return value;
}

export function jsonText(value: unknown, indent = 2): string {
  return JSON.stringify(redactSecrets(value), null, indent) ?? 'null';
}

export function isEmptyJson(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'object' && Object.keys(value).length === 0);
}
