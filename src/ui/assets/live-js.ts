/**
 * The detail page's live update, served from /ui/assets/live.js (the Content-Security-Policy allows
 * no inline script). While `#live[data-live="true"]`, it polls the fragment URL about once a second
 * with If-None-Match, swaps the section when it changed (304 otherwise), keeps keyboard focus on the
 * element with the same id, and stops once the server renders `data-live="false"` (the workflow
 * settled), on 401 (session ended) or 404. Hidden tabs skip polls. Without JavaScript the page is
 * the same, only static.
 */
export const LIVE_JS = String.raw`(function () {
  'use strict';
  var live = document.getElementById('live');
  if (!live || !window.fetch || !('content' in document.createElement('template'))) return;
  var note = document.getElementById('live-note');
  var url = live.getAttribute('data-fragment');
  var etag = live.getAttribute('data-etag') || '';
  var STOP = {};
  function say(text) { if (note) note.textContent = text; }
  function active() { return live.getAttribute('data-live') === 'true'; }
  function schedule() { setTimeout(tick, 1000); }

  function swap(text) {
    var tpl = document.createElement('template');
    tpl.innerHTML = text.trim();
    var next = tpl.content.firstElementChild;
    if (!next || next.id !== 'live') return;
    var focused = document.activeElement;
    var focusedId = focused && focused.id && live.contains(focused) ? focused.id : null;
    live.replaceWith(next);
    live = next;
    etag = live.getAttribute('data-etag') || '';
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function tick() {
    if (document.hidden) { schedule(); return; }
    fetch(url, { headers: { 'If-None-Match': etag, 'Accept': 'text/html' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (res.status === 304) return null;
        if (res.status === 401) { say('Your session ended: reload the page to sign in again.'); throw STOP; }
        if (res.status === 404) { say('This workflow is no longer visible to you.'); throw STOP; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        if (text !== null) swap(text);
        if (active()) { say('Live: updates every second.'); schedule(); }
        else say('The workflow has settled; live updates stopped.');
      })
      .catch(function (e) {
        if (e === STOP) return;
        say('Connection lost; retrying…');
        schedule();
      });
  }

  if (active()) { say('Live: updates every second.'); schedule(); }
})();
`;
