// A validation's tables, readable from 2 to 100 classes: the accuracy per class (sortable by
// class or by accuracy) and the confusion matrix — a table of counts up to TABLE_CLASSES
// classes, above that a heatmap whose cells say their counts on hover or with the arrow keys.
import { css, viridis } from './colormap.js';
import { $, tableRow } from './page-dom.js';

/** Above this many classes the confusion matrix is a heatmap: a table of counts no longer fits. */
const TABLE_CLASSES = 12;
/** The heatmap's side in CSS pixels (each cell at least 3). */
const HEATMAP_SIDE = 420;

const percent = (accuracy) => (Number.isFinite(accuracy) ? `${(accuracy * 100).toFixed(0)} %` : '–');

/** How the per-class table is sorted: `{ key: 'class' | 'accuracy', descending }`. */
let order = { key: 'class', descending: false };

/** A header cell that sorts the table by `key` when clicked, saying how it is sorted. */
function sortHeader(label, key, redraw) {
  const th = document.createElement('th');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'sort';
  const active = order.key === key;
  button.textContent = `${label}${active ? (order.descending ? ' ↓' : ' ↑') : ''}`;
  th.setAttribute('aria-sort', active ? (order.descending ? 'descending' : 'ascending') : 'none');
  button.addEventListener('click', () => {
    order = { key, descending: active ? !order.descending : key === 'accuracy' };
    redraw();
  });
  th.append(button);
  return th;
}

/** The accuracy of every class, in the order chosen (classes in label order by default). */
export function perClassTable(validation, classes) {
  const table = $('per-class');
  const redraw = () => perClassTable(validation, classes);
  const rows = classes.map((name, i) => ({ name, accuracy: validation.perClassAccuracy[i] }));
  if (order.key === 'accuracy') rows.sort((a, b) => (a.accuracy ?? -1) - (b.accuracy ?? -1));
  if (order.descending) rows.reverse();
  const header = document.createElement('tr');
  header.append(sortHeader('class', 'class', redraw), sortHeader('accuracy', 'accuracy', redraw));
  table.replaceChildren(header, ...rows.map(({ name, accuracy }) => tableRow([name, percent(accuracy)])));
  table.createCaption().textContent = 'Validation accuracy per class (click a heading to sort)';
}

/** The confusion matrix as a table of counts, each coloured by its share of the largest. */
function confusionTable(table, confusion, classes, max) {
  // Columns by number (names of any length fit), each naming its class on hover.
  const header = tableRow(['true ↓ / predicted →', ...classes.map((_, i) => String(i + 1))], 'th');
  [...header.children].slice(1).forEach((th, i) => { th.title = classes[i]; });
  table.replaceChildren(header);
  confusion.forEach((counts, i) => {
    const tr = tableRow([`${i + 1}. ${classes[i]}`], 'th');
    for (const n of counts) {
      const td = document.createElement('td');
      td.textContent = String(n);
      td.style.background = css(viridis(n / max));
      td.style.color = n / max > 0.6 ? '#000' : '#fff';
      tr.append(td);
    }
    table.append(tr);
  });
  table.createCaption().textContent = 'Confusion matrix (validation)';
}

/** A cell of the heatmap in words. */
const describeCell = (confusion, classes, t, p) => `true ${classes[t]}, predicted ${classes[p]}: ${confusion[t][p]} image(s)`;

/**
 * The confusion matrix as a heatmap (rows: true class, columns: predicted), each cell viridis by
 * its share of the largest count; hovering a cell, or moving with the arrow keys, reads it out.
 */
function confusionHeatmap(figure, confusion, classes, max) {
  const n = classes.length;
  const canvas = document.createElement('canvas');
  canvas.width = n;
  canvas.height = n;
  canvas.className = 'heatmap';
  canvas.style.width = canvas.style.height = `${Math.max(3 * n, Math.min(HEATMAP_SIDE, 12 * n))}px`;
  canvas.tabIndex = 0;
  canvas.setAttribute('role', 'img');
  const pixels = canvas.getContext('2d').createImageData(n, n);
  confusion.forEach((counts, t) => counts.forEach((count, p) => pixels.data.set([...viridis(count / max), 255], 4 * (t * n + p))));
  canvas.getContext('2d').putImageData(pixels, 0, 0);
  const correct = confusion.reduce((sum, counts, t) => sum + counts[t], 0);
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  canvas.setAttribute('aria-label', `Confusion matrix of ${n} classes: ${correct} of ${total} validation images on the diagonal. Use the arrow keys to read a cell.`);
  const readout = document.createElement('p');
  readout.className = 'muted heat-readout';
  readout.setAttribute('aria-live', 'polite');
  readout.textContent = 'Hover a cell (or focus the map and use the arrow keys) to read it.';
  let cell = [0, 0];
  const show = ([t, p]) => { cell = [t, p]; readout.textContent = describeCell(confusion, classes, t, p); };
  canvas.addEventListener('mousemove', (event) => {
    const box = canvas.getBoundingClientRect();
    const at = (offset, size) => Math.min(n - 1, Math.max(0, Math.floor((offset / size) * n)));
    show([at(event.clientY - box.top, box.height), at(event.clientX - box.left, box.width)]);
  });
  canvas.addEventListener('keydown', (event) => {
    const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[event.key];
    if (!step) return;
    event.preventDefault();
    show([Math.min(n - 1, Math.max(0, cell[0] + step[0])), Math.min(n - 1, Math.max(0, cell[1] + step[1]))]);
  });
  const caption = document.createElement('figcaption');
  caption.textContent = `Confusion matrix (validation): rows are the true class, columns the predicted one, in label order; brighter = more images (at most ${max}).`;
  figure.replaceChildren(canvas, readout, caption);
}

/** The confusion matrix as the class count allows: a table, or a heatmap above TABLE_CLASSES. */
export function confusionView(validation, classes) {
  const max = Math.max(1, ...validation.confusion.flat());
  const asTable = classes.length <= TABLE_CLASSES;
  $('confusion').hidden = !asTable;
  $('confusion-map').hidden = asTable;
  if (asTable) confusionTable($('confusion'), validation.confusion, classes, max);
  else confusionHeatmap($('confusion-map'), validation.confusion, classes, max);
}
