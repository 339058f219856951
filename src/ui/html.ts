/**
 * The one way the UI builds markup. `html` escapes every interpolation unless it is already
 * SafeHtml (the result of another `html` call), so a step name, error or parameter containing
 * `<script>` always renders as text. `raw` is the only way around it and takes trusted constants.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in element text and in quoted attribute values, in HTML and in inline SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function render(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  // null, undefined and false render as nothing, so `${cond && html`…`}` reads naturally.
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Marks trusted markup (constants written in this codebase) as safe. Never pass user data. */
export function raw(trusted: string): SafeHtml {
  return new SafeHtml(trusted);
}
