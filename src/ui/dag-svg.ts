import { Graph, layout, type EdgeLabel, type GraphLabel, type NodeLabel, type Point } from '@dagrejs/dagre';
import { html, type SafeHtml } from './html.js';

/** What the renderer needs of a step; StepResponse fits. */
export interface DagStep {
  name: string;
  status: string;
  type?: string;
  depends_on: readonly string[];
}

export interface DagOptions {
  /** Wrap each node in a link to `#step-<name>` (the step's panel on the detail page). Default true. */
  linkNodes?: boolean;
}

// Sizes in SVG user units (px at 100 %). Names are at most 63 characters (manifest rule); a node grows
// with its label up to MAX_W and the rest is cut with an ellipsis (the full name is in <title>).
const NODE_H = 56;
const MIN_W = 140;
const MAX_W = 320;
// Per-character widths, generous on purpose: Debian's default sans (DejaVu) measured ~9.0 px per
// snake_case character at 14 px semibold and ~7.2 at 12 px; narrower fonts only leave more margin.
const NAME_CHAR_W = 9.2;
const META_CHAR_W = 7.3;
const PAD_X = 16;
const MARGIN = 12;

/**
 * Lays the steps out with dagre (left to right) and draws them as an inline SVG: one
 * `<g class="node st-<status>" data-step data-status>` per step and one `<path class="edge">` per
 * dependency. Colours come from the stylesheet's status classes, so the SVG carries no inline style.
 * Pure: the same steps give the same markup.
 */
export function renderDagSvg(steps: readonly DagStep[], opts: DagOptions = {}): SafeHtml {
  const linkNodes = opts.linkNodes ?? true;
  if (steps.length === 0) {
    return html`<svg class="dag" role="img" aria-label="This workflow has no steps" viewBox="0 0 240 40" width="240" height="40"><text x="8" y="24" class="dag-empty">No steps</text></svg>`;
  }
  const g = new Graph<GraphLabel, NodeLabel, EdgeLabel>();
  g.setGraph({ rankdir: 'LR', nodesep: 22, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(steps.map((s) => s.name));
  for (const s of steps) g.setNode(s.name, { width: nodeWidth(s), height: NODE_H });
  for (const s of steps) for (const d of s.depends_on) if (names.has(d) && d !== s.name) g.setEdge(d, s.name);
  layout(g);

  const { width = 0, height = 0 }: GraphLabel = g.graph();
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  const byName = new Map(steps.map((s) => [s.name, s]));

  // dagre's published types lose graphlib's (its Graph resolves to `any` here), so the shapes we read are named.
  const edgeList: { v: string; w: string }[] = g.edges();
  const edges = edgeList.map((e) => {
    const edgeLabel: EdgeLabel = g.edge(e);
    const points: readonly Point[] = edgeLabel.points ?? [];
    const from = byName.get(e.v);
    return html`<path class="edge${from?.status === 'completed' || from?.status === 'skipped' ? ' edge-done' : ''}" data-from="${e.v}" data-to="${e.w}" d="${pathData(points)}" marker-end="url(#dag-arrow)"/>`;
  });

  const nodes = steps.map((s) => {
    const n: NodeLabel = g.node(s.name);
    const nw = n.width;
    const x = round((n.x ?? 0) - nw / 2);
    const y = round((n.y ?? 0) - NODE_H / 2);
    const name = fit(s.name, (nw - 2 * PAD_X) / NAME_CHAR_W);
    const meta = fit(metaLine(s), (nw - 2 * PAD_X) / META_CHAR_W);
    const body = html`<g class="node st-${s.status}" data-step="${s.name}" data-status="${s.status}" transform="translate(${x} ${y})"><title>${s.name}: ${label(s.status)}</title><rect width="${nw}" height="${NODE_H}" rx="8"/><rect class="stripe" width="5" height="${NODE_H}" rx="2"/><text class="node-name" x="${PAD_X}" y="24">${name}</text><text class="node-meta" x="${PAD_X}" y="43">${meta}</text></g>`;
    return linkNodes
      ? html`<a href="#step-${s.name}" id="node-link-${s.name}" aria-label="Step ${s.name}: ${label(s.status)}">${body}</a>`
      : body;
  });

  return html`<svg class="dag" xmlns="http://www.w3.org/2000/svg" role="group" aria-label="Workflow steps and their dependencies" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}"><defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z"/></marker></defs><g class="edges">${edges}</g><g class="nodes">${nodes}</g></svg>`;
}

export const label = (status: string) => status.replace(/_/g, ' ');

function metaLine(s: DagStep): string {
  return s.type ? `${s.type} · ${label(s.status)}` : label(s.status);
}

function nodeWidth(s: DagStep): number {
  const text = Math.max(s.name.length * NAME_CHAR_W, metaLine(s).length * META_CHAR_W);
  return Math.round(Math.min(MAX_W, Math.max(MIN_W, text + 2 * PAD_X)));
}

function fit(text: string, maxChars: number): string {
  const n = Math.floor(maxChars + 0.5); // nodeWidth rounds to whole units; do not lose a character to it
  return text.length <= n ? text : `${text.slice(0, Math.max(1, n - 1))}…`;
}

const round = (v: number) => Math.round(v * 10) / 10;

/** A smooth path through dagre's points: straight to the first midpoint, then quadratic curves. */
function pathData(points: readonly { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  const p = points.map((q) => ({ x: round(q.x), y: round(q.y) }));
  let d = `M${p[0].x} ${p[0].y}`;
  if (p.length === 2) return `${d} L${p[1].x} ${p[1].y}`;
  for (let i = 1; i < p.length - 1; i++) {
    const mx = round((p[i].x + p[i + 1].x) / 2);
    const my = round((p[i].y + p[i + 1].y) / 2);
    d += i === p.length - 2 ? ` Q${p[i].x} ${p[i].y} ${p[i + 1].x} ${p[i + 1].y}` : ` Q${p[i].x} ${p[i].y} ${mx} ${my}`;
  }
  return d;
}
