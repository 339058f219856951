import { html, type SafeHtml } from '../html.js';
import { page, type PageOptions } from '../layout.js';

export interface LoginPageInput {
  assets: PageOptions['assets'];
  /** Why the visitor is here, from the server (never from the URL): an expired session, a refused token. */
  problem?: string | null;
  /** Where to go after signing in (a /ui/ path, already checked). */
  next?: string | null;
}

/**
 * The sign-in page. The form POSTs the token, the only way to sign in: a token never goes in a URL
 * (browser history, access logs, Referer), and no link can sign a visitor in (login CSRF).
 */
export function loginPage(input: LoginPageInput): SafeHtml {
  return page(
    { title: 'Sign in', session: null, assets: input.assets },
    html`
<section class="login card" aria-labelledby="login-title">
  <h1 id="login-title">Sign in to Provisioner</h1>
  ${input.problem && html`<p class="notice error" role="alert">${input.problem}</p>`}
  <p>Paste an access token (a JWT). Operators need the <code>admin:provisioning</code> permission or the
    <code>super_admin</code> role to see every tenant; a tenant token shows that tenant's workflows.</p>
  <form method="post" action="/ui/login">
    ${input.next && html`<input type="hidden" name="next" value="${input.next}">`}
    <p><label for="token">Access token</label><br>
    <textarea id="token" name="token" required autocomplete="off" spellcheck="false" placeholder="eyJhbGciOi…"></textarea></p>
    <p><button type="submit" class="primary">Sign in</button></p>
  </form>
  <p class="muted">For a development token run <code>npx provisioner token --tenant acme --permission admin:provisioning</code>.</p>
</section>`,
  );
}
