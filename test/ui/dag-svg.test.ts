import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderDagSvg, type DagStep } from '../../src/ui/dag-svg.js';

const files: DagStep[] = [
  { name: 'create_account', type: 'http', status: 'completed', depends_on: [] },
  { name: 'create_bucket', type: 'callback', status: 'waiting_callback', depends_on: ['create_account'] },
  { name: 'build_index', type: 'poll', status: 'running', depends_on: ['create_account'] },
  { name: 'issue_keys', type: 'http', status: 'pending', depends_on: ['create_bucket', 'build_index'] },
];

const nodes = (svg: string) =>
  [...svg.matchAll(/<g class="node st-[^"]*" data-step="([^"]*)" data-status="([^"]*)"/g)].map((m) => ({ step: m[1], status: m[2] }));
const edges = (svg: string) =>
  [...svg.matchAll(/<path class="edge[^"]*" data-from="([^"]*)" data-to="([^"]*)" d="([^"]*)"/g)].map((m) => ({
    from: m[1],
    to: m[2],
    d: m[3],
  }));

describe('the DAG renderer', () => {
  it('draws one <g> per step carrying data-step and data-status', () => {
    const svg = renderDagSvg(files).toString();
    assert.deepEqual(
      nodes(svg),
      files.map((s) => ({ step: s.name, status: s.status })),
    );
    assert.match(svg, /^<svg class="dag"/);
  });

  it('draws one path per dependency, each with coordinates, and marks edges out of finished steps', () => {
    const svg = renderDagSvg(files).toString();
    const drawn = edges(svg);
    assert.deepEqual(drawn.map((e) => `${e.from}->${e.to}`).sort(), [
      'build_index->issue_keys',
      'create_account->build_index',
      'create_account->create_bucket',
      'create_bucket->issue_keys',
    ]);
    for (const e of drawn) assert.match(e.d, /^M[\d.]+ [\d.]+ /);
    assert.equal((svg.match(/class="edge edge-done"/g) ?? []).length, 2, 'the two edges out of the completed create_account');
  });

  it('lays steps out left to right in dependency order', () => {
    const svg = renderDagSvg(files).toString();
    const x = (name: string) => Number(new RegExp(`data-step="${name}"[^>]*transform="translate\\(([\\d.]+) `).exec(svg)?.[1]);
    assert.ok(x('create_account') < x('create_bucket'));
    assert.ok(x('create_bucket') < x('issue_keys'));
    assert.ok(x('build_index') < x('issue_keys'));
    const [, w, h] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg) ?? [];
    assert.ok(Number(w) > 0 && Number(h) > 0);
  });

  it('links each node to its step panel so the graph is keyboard-navigable', () => {
    const svg = renderDagSvg(files).toString();
    assert.equal((svg.match(/<a href="#step-/g) ?? []).length, 4);
    assert.equal((renderDagSvg(files, { linkNodes: false }).toString().match(/<a /g) ?? []).length, 0);
  });

  it('escapes names and statuses, so markup in them renders as text', () => {
    const hostile: DagStep[] = [
      { name: '<script>alert(1)</script>', type: 'http', status: 'failed"><img src=x onerror=alert(2)>', depends_on: [] },
      { name: 'b&b', status: 'pending', depends_on: ['<script>alert(1)</script>'] },
    ];
    const svg = renderDagSvg(hostile).toString();
    assert.doesNotMatch(svg, /<script|<img/);
    assert.match(svg, /data-step="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
    assert.match(svg, /data-status="failed&quot;&gt;&lt;img src=x onerror=alert\(2\)&gt;"/);
    assert.match(svg, /data-step="b&amp;b"/);
    assert.equal(nodes(svg).length, 2);
    assert.equal(edges(svg).length, 1);
  });

  it('ignores dependencies on unknown steps and on the step itself', () => {
    const svg = renderDagSvg([{ name: 'a', status: 'pending', depends_on: ['ghost', 'a'] }]).toString();
    assert.equal(nodes(svg).length, 1);
    assert.equal(edges(svg).length, 0);
  });

  it('shortens a long name in the box and keeps it whole in the tooltip', () => {
    const name = `a${'_very_long'.repeat(6)}`;
    const svg = renderDagSvg([{ name, type: 'http', status: 'pending', depends_on: [] }]).toString();
    assert.match(svg, new RegExp(`<title>${name}: pending</title>`));
    assert.match(svg, /class="node-name"[^>]*>a_very[^<]*…<\/text>/);
  });

  it('renders the same markup for the same steps', () => {
    assert.equal(renderDagSvg(files).toString(), renderDagSvg(files.map((s) => ({ ...s }))).toString());
  });

  it('says so when there are no steps', () => {
    const svg = renderDagSvg([]).toString();
    assert.match(svg, /No steps/);
    assert.equal(nodes(svg).length, 0);
  });
});
