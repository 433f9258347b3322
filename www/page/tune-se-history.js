// The SE history of the probe image while the model learns: per block, one canvas with a row per
// channel and a column per step, and a line naming the channels that moved most. Two views:
// the absolute weights, or their change since the first step (the default).
import { diverging, viridis } from './colormap.js';
import { $ } from './page-dom.js';

/** One entry per block: { canvas, moved, columns (one weight array per step), lo, hi, span }. */
let history = null;
/** The run's shape, for a snapshot: { totalSteps, widths }. */
let shape = null;

const changeView = () => $('se-view-change').checked;

/**
 * Empties the history for a run of `totalSteps` steps on blocks `widths` channels wide (the
 * loaded model's info.widths), and shows the probe image (or nothing) beside it.
 */
export function startHistory(totalSteps, widths, probeBitmap) {
  shape = { totalSteps, widths };
  const container = $('se-history');
  container.replaceChildren();
  history = widths.map((channels, block) => {
    const label = document.createElement('span');
    label.textContent = `Block ${block + 1} (${channels} channels × ${totalSteps} steps)`;
    const canvas = document.createElement('canvas');
    canvas.width = totalSteps;
    canvas.height = channels;
    canvas.id = `se-history-${block + 1}`;
    canvas.setAttribute('aria-label', `SE weights of the probe image in block ${block + 1}, per step`);
    const moved = document.createElement('span');
    moved.className = 'moved';
    moved.id = `se-moved-${block + 1}`;
    container.append(label, canvas, moved);
    return { canvas, moved, columns: [], lo: Infinity, hi: -Infinity, span: 0 };
  });
  const probeCanvas = $('probe-image');
  const context = probeCanvas.getContext('2d');
  context.clearRect(0, 0, probeCanvas.width, probeCanvas.height);
  if (probeBitmap) context.drawImage(probeBitmap, 0, 0, probeCanvas.width, probeCanvas.height);
}

/** Names the three channels whose weight moved most since the start. */
function markMoved(view) {
  const first = view.columns[0];
  const last = view.columns[view.columns.length - 1];
  const moves = last.map((w, channel) => ({ channel, delta: w - first[channel] }))
    .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta)).slice(0, 3)
    .filter((m) => Math.abs(m.delta) > 1e-4);
  view.moved.textContent = moves.length
    ? `moved most: ${moves.map((m) => `#${m.channel} ${m.delta > 0 ? '+' : '−'}${Math.abs(m.delta).toPrecision(2)}`).join(', ')}`
    : 'no channel has moved yet';
}

/**
 * Appends a step's SE weights. "Absolute": viridis over the range seen so far. "Change since
 * the start": each weight minus its first value, purple (down) – white – orange (up), scaled
 * to the largest change so far, so the drift that training causes is what shows. A column is
 * painted alone unless the range grew: then every column is repainted on the new scale.
 */
function drawHistory(view, weights) {
  view.columns.push(weights);
  const first = view.columns[0];
  const lo = Math.min(view.lo, ...weights);
  const hi = Math.max(view.hi, ...weights);
  const span = Math.max(view.span, ...weights.map((w, c) => Math.abs(w - first[c])));
  const redraw = lo < view.lo || hi > view.hi || span > view.span;
  Object.assign(view, { lo, hi, span });
  const context = view.canvas.getContext('2d');
  const colour = changeView()
    ? (w, c) => diverging((w - first[c]) / (span || 1))
    : (w) => viridis((w - lo) / (hi - lo || 1));
  const paint = (column, x) => {
    const pixels = context.createImageData(1, column.length);
    column.forEach((w, channel) => pixels.data.set([...colour(w, channel), 255], channel * 4));
    context.putImageData(pixels, x, 0);
  };
  if (redraw || view.columns.length === 1) view.columns.forEach(paint);
  else paint(weights, view.columns.length - 1);
  view.canvas.title = changeView()
    ? `change since the start: −${span.toPrecision(2)} (purple) to +${span.toPrecision(2)} (orange)`
    : `weights ${lo.toFixed(3)} (dark) to ${hi.toFixed(3)} (yellow)`;
  markMoved(view);
}

/** Adds a step's probe SE weights (one array per block; null on steps that carry none). */
export function addHistoryStep(probeSeWeights) {
  probeSeWeights?.forEach((weights, block) => drawHistory(history[block], weights));
}

/** Repaints every block in the view now chosen. */
function redrawHistory() {
  for (const view of history ?? []) {
    const columns = view.columns;
    Object.assign(view, { columns: [], lo: Infinity, hi: -Infinity, span: 0 });
    columns.forEach((weights) => drawHistory(view, weights));
  }
}

export function setupHistoryView() {
  for (const radio of [$('se-view-absolute'), $('se-view-change')]) radio.addEventListener('change', redrawHistory);
}

/** The history as data to keep: `{ totalSteps, widths, steps: [per step, per block, Float32Array] , probe: Blob }`. */
export async function historySnapshot() {
  if (!history) return null;
  const steps = history[0].columns.map((_, step) => history.map((view) => Float32Array.from(view.columns[step])));
  const probe = await new Promise((resolve) => $('probe-image').toBlob(resolve, 'image/png'));
  return { ...shape, steps, probe };
}

/** Draws a kept history again (project-restore.js). */
export async function restoreHistory({ totalSteps, widths, steps, probe }) {
  const probeBitmap = probe ? await createImageBitmap(probe).catch(() => null) : null;
  startHistory(totalSteps, widths, probeBitmap);
  for (const blocks of steps) addHistoryStep(blocks.map((weights) => Array.from(weights)));
}
