// The squeeze-and-excitation card: per block, the channel weights as sorted bars (readable by
// hover or keyboard), or their deviations from the average image's or the predicted class's
// (page-se-profiles.js), and the feature maps of the most and least attended channels.
import { css, drawMap, viridis } from './colormap.js';
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { deviationColour, mostDeviating, references, seView } from './page-se-profiles.js';

/**
 * The bars of one block, sorted, and the line that reads out the selected one. With `reference`
 * (a mean vector), the bars are the signed deviations from it, coloured purple (below) to orange.
 */
function attentionBars(weights, blockNumber, reference = null) {
  const channels = weights.length;
  const values = reference ? weights.map((w, c) => w - reference[c]) : weights;
  const order = values.map((w, c) => [w, c]).sort((a, b) => b[0] - a[0]);
  const bars = document.createElement('div');
  bars.className = 'se-bars';
  bars.id = `se-block-${blockNumber}`;
  bars.tabIndex = 0;
  bars.setAttribute('role', 'group');
  bars.setAttribute('aria-label', `Block ${blockNumber} attention weights, sorted; use the arrow keys to read them`);
  const readout = document.createElement('div');
  readout.className = 'se-readout';
  readout.setAttribute('aria-live', 'polite');
  let selected = 0;
  const show = (position) => {
    selected = Math.max(0, Math.min(order.length - 1, position));
    const [value, channel] = order[selected];
    const against = reference ? `, usually ${reference[channel].toFixed(3)} (${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)})` : '';
    readout.textContent = `channel ${channel}: weight ${weights[channel].toFixed(3)}${against} (rank ${selected + 1} of ${channels})`;
    bars.querySelectorAll('.selected').forEach((el) => el.classList.remove('selected'));
    bars.children[selected]?.classList.add('selected');
  };
  // The weights of one block often sit close together: scale bars and colours to the block's range.
  const lo = order[order.length - 1][0];
  const hi = order[0][0];
  const largest = Math.max(Math.abs(lo), Math.abs(hi));
  const norm = (w) => (hi > lo ? (w - lo) / (hi - lo) : 1);
  order.forEach(([value, channel], position) => {
    const bar = document.createElement('div');
    bar.style.height = reference ? `${4 + 96 * (largest > 0 ? Math.abs(value) / largest : 0)}%` : `${10 + 90 * norm(value)}%`;
    bar.style.background = reference ? deviationColour(value, largest) : css(viridis(norm(value)));
    bar.style.flex = '1 1 0';
    bar.title = `channel ${channel}: ${weights[channel].toFixed(3)}`;
    bar.addEventListener('mouseenter', () => show(position));
    bars.append(bar);
  });
  bars.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -channels, End: channels }[event.key];
    if (step !== undefined) { event.preventDefault(); show(selected + step); }
  });
  bars.addEventListener('focus', () => show(selected));
  show(0);
  return { bars, readout };
}

/** The feature maps of the most and least attended channels, in two captioned groups. */
function featureMaps(block) {
  const maps = document.createElement('div');
  maps.className = 'maps';
  for (const [label, list] of [['most attended', block.mostAttended], ['least attended', block.leastAttended]]) {
    const group = document.createElement('div');
    group.className = 'group';
    const caption = document.createElement('span');
    caption.textContent = label;
    group.append(caption);
    for (const map of list) group.append(mapFigure(map));
    maps.append(group);
  }
  return maps;
}

/** One feature map as a captioned figure. */
function mapFigure(map) {
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  drawMap(canvas, map.values, map.size);
  canvas.setAttribute('aria-label', `feature map of channel ${map.channel}, weight ${map.weight.toFixed(2)}`);
  const text = document.createElement('figcaption');
  text.textContent = `#${map.channel} · ${map.weight.toFixed(2)}`;
  figure.append(canvas, text);
  return figure;
}

/**
 * The channels that deviate most from `reference`, as buttons: each explains `source` again
 * with that channel's feature map and shows it beside the list.
 */
function deviationList(block, blockNumber, reference, source) {
  const line = document.createElement('div');
  line.className = 'se-deviations';
  const shown = document.createElement('div');
  shown.className = 'se-requested';
  const button = ([d, channel]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `#${channel} ${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(2)}`;
    b.setAttribute('aria-label', `Show the feature map of block ${blockNumber} channel ${channel}`);
    b.addEventListener('click', async () => {
      try {
        const explained = await page.model.explain(source, { topK: 1, channels: 1, map: { block: blockNumber, channel } });
        shown.replaceChildren(mapFigure(explained.blocks[blockNumber - 1].requested));
      } catch (error) {
        showAlert(`Could not show channel ${channel}: ${error.message}`);
      }
    });
    return b;
  };
  const { above, below } = mostDeviating(block.seWeights.map((w, c) => w - reference[c]));
  line.append('Most unusual channels, above: ', ...(above.length ? above.map(button) : ['none']),
    ' · below: ', ...(below.length ? below.map(button) : ['none']), shown);
  return line;
}

function seBlockSection(block, index, reference, source) {
  const section = document.createElement('div');
  section.className = 'se-block';
  const heading = document.createElement('h3');
  const range = `${Math.min(...block.seWeights).toFixed(3)}–${Math.max(...block.seWeights).toFixed(3)}`;
  heading.textContent = `Block ${index + 1} · ${block.seWeights.length} channels · weights ${range}`;
  const { bars, readout } = attentionBars(block.seWeights, index + 1, reference);
  section.append(heading, bars, readout);
  if (reference) section.append(deviationList(block, index + 1, reference, source));
  section.append(featureMaps(block));
  return section;
}

/**
 * Replaces the card's content with `explained.blocks` (first to last), as the SE view switch
 * says: the weights, or how they differ from what `profiles` (the model's) call usual; `source`
 * (the image explained) is explained again when a channel's map is asked for.
 */
export function renderSeBlocks(explained, profiles, source) {
  const view = seView(profiles);
  const predicted = explained.top[0]?.index ?? 0;
  const refs = references(profiles, view, predicted);
  $('se-blocks').dataset.view = view;
  $('se-blocks').replaceChildren(...explained.blocks.map((block, i) => seBlockSection(block, i, refs?.[i] ?? null, source)));
}
