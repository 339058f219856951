import { html, type SafeHtml } from '../html.js';
import { page, type PageOptions } from '../layout.js';
import type { UiSession } from '../session.js';

/** A page that only says something: not found, not allowed, something broke. */
export function messagePage(input: { assets: PageOptions['assets']; session: UiSession | null; title: string; message: string }): SafeHtml {
  return page(
    { title: input.title, session: input.session, assets: input.assets },
    html`
<section class="card">
  <h1>${input.title}</h1>
  <p>${input.message}</p>
  <p><a href="/ui/workflows">Back to the workflows</a></p>
</section>`,
  );
}
