// What is usual for the SE weights, from the per-class profiles a weights file carries
// (`secnn eval --record`): this image's weights against the average image's or its class's,
// and the SE paper's figure (mean excitation per class at each depth) for the loaded model.
import { css, diverging } from './colormap.js';
import { $ } from './page-dom.js';

/**
 * Which weights the SE bars show: 'absolute', 'average' (minus the mean image's) or 'class'
 * (minus the mean of the predicted class's images); falls back to 'absolute' without profiles.
 */
export function seView(profiles) {
  const chosen = document.querySelector('input[name="se-compare"]:checked')?.value ?? 'absolute';
  return profiles ? chosen : 'absolute';
}

/** The reference vector per block for `view`, or null for absolute weights. */
export function references(profiles, view, predicted) {
  if (!profiles || view === 'absolute') return null;
  return profiles.blocks.map((block) => {
    const classMean = block.classMeans[predicted];
    return view === 'class' && classMean?.length ? classMean : block.mean;
  });
}

/** The channels that deviate most: `{ above: [[deviation, channel]…], below: […] }`, largest first. */
export function mostDeviating(deviations, count = 3) {
  const order = deviations.map((d, c) => [d, c]).sort((a, b) => b[0] - a[0]);
  return {
    above: order.slice(0, count).filter(([d]) => d > 0),
    below: order.slice(-count).reverse().filter(([d]) => d < 0),
  };
}

/** Colour of a signed deviation scaled to the block's largest. */
export const deviationColour = (d, largest) => css(diverging(largest > 0 ? d / largest : 0));

/**
 * One block's chart: a row per class, a column per channel, coloured by how far the class's mean
 * weight lies from all images' mean (orange above, purple below): where the classes part ways.
 */
function classChart(block, classes, blockNumber) {
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  const rows = block.classMeans.map((means, c) => [means, classes[c]]).filter(([means]) => means.length);
  const channels = block.mean.length;
  canvas.width = channels;
  canvas.height = rows.length;
  const largest = Math.max(...rows.flatMap(([means]) => means.map((m, c) => Math.abs(m - block.mean[c]))));
  const context = canvas.getContext('2d');
  rows.forEach(([means], y) => means.forEach((m, x) => {
    context.fillStyle = deviationColour(m - block.mean[x], largest);
    context.fillRect(x, y, 1, 1);
  }));
  canvas.className = 'class-chart';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Block ${blockNumber}: for each class (rows: ${rows.map(([, name]) => name).join(', ')}) and each of ${channels} channels (columns), the class's mean attention weight minus all images' mean, up to ±${largest.toFixed(2)}`);
  const caption = document.createElement('figcaption');
  caption.textContent = `Block ${blockNumber} · class-specificity ${block.specificity.toFixed(2)}`;
  figure.append(caption, canvas);
  return figure;
}

/** Fills the profiles section for the loaded model (`info`), or says what it needs. */
export function renderProfiles(info) {
  const profiles = info?.profiles;
  const box = $('se-profiles');
  document.querySelectorAll('input[name="se-compare"]').forEach((input) => { input.disabled = !profiles && input.value !== 'absolute'; });
  $('se-compare-note').textContent = profiles ? `Averages measured on ${profiles.measuredOn}.`
    : 'These comparisons need a weights file with SE profiles (`secnn eval --record`); this one has none.';
  if (!profiles) {
    document.querySelector('input[name="se-compare"][value="absolute"]').checked = true;
    box.replaceChildren();
    return;
  }
  const rows = document.createElement('div');
  rows.className = 'class-charts';
  rows.append(...profiles.blocks.map((block, i) => classChart(block, info.classes, i + 1)));
  const labels = document.createElement('p');
  labels.className = 'muted';
  labels.textContent = `Rows, top to bottom: ${info.classes.filter((_, c) => profiles.blocks[0].classMeans[c]?.length).join(', ')}.`;
  box.replaceChildren(rows, labels);
}
