import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html, raw } from '../../src/ui/html.js';

describe('the html template helper', () => {
  it('escapes every interpolation by default', () => {
    const evil = `<script>alert("x")</script>' & more`;
    assert.equal(
      html`<p title="${evil}">${evil}</p>`.toString(),
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; &amp; more">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; &amp; more</p>',
    );
  });

  it('keeps nested templates as markup without escaping them twice', () => {
    const inner = html`<b>${'a<b'}</b>`;
    assert.equal(html`<p>${inner}</p>`.toString(), '<p><b>a&lt;b</b></p>');
  });

  it('renders arrays item by item and null, undefined and false as nothing', () => {
    assert.equal(html`<ul>${['<1>', html`<li>2</li>`]}</ul>`.toString(), '<ul>&lt;1&gt;<li>2</li></ul>');
    assert.equal(html`[${null}${undefined}${false}]`.toString(), '[]');
    assert.equal(html`${0} ${true}`.toString(), '0 true');
  });

  it('passes trusted markup through raw() only', () => {
    assert.equal(html`${raw('<hr>')}${'<hr>'}`.toString(), '<hr>&lt;hr&gt;');
    assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
  });
});
