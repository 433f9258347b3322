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
 * `update(weights, reference)` repaints the same bars (live mode: no new elements each frame).
 */
function attentionBars(weights, blockNumber, reference = null) {
  const channels = weights.length;
  const bars = document.createElement('div');
  bars.className = 'se-bars';
  bars.id = `se-block-${blockNumber}`;
  bars.tabIndex = 0;
  bars.setAttribute('role', 'group');
  bars.setAttribute('aria-label', `Block ${blockNumber} attention weights, sorted; use the arrow keys to read them`);
  const readout = document.createElement('div');
  readout.className = 'se-readout';
  readout.setAttribute('aria-live', 'polite');
  let shown = { weights, reference, order: [] };
  let selected = 0;
  const show = (position) => {
    selected = Math.max(0, Math.min(channels - 1, position));
    const [value, channel] = shown.order[selected];
    const against = shown.reference ? `, usually ${shown.reference[channel].toFixed(3)} (${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)})` : '';
    readout.textContent = `channel ${channel}: weight ${shown.weights[channel].toFixed(3)}${against} (rank ${selected + 1} of ${channels})`;
    bars.querySelectorAll('.selected').forEach((el) => el.classList.remove('selected'));
    bars.children[selected]?.classList.add('selected');
  };
  const paint = (nextWeights, nextReference) => {
    const values = nextReference ? nextWeights.map((w, c) => w - nextReference[c]) : nextWeights;
    const order = values.map((w, c) => [w, c]).sort((x, y) => y[0] - x[0]);
    shown = { weights: nextWeights, reference: nextReference, order };
    // The weights of one block often sit close together: scale bars and colours to the block's range.
    const lo = order[order.length - 1][0];
    const hi = order[0][0];
    const largest = Math.max(Math.abs(lo), Math.abs(hi));
    const norm = (w) => (hi > lo ? (w - lo) / (hi - lo) : 1);
    order.forEach(([value, channel], position) => {
      const bar = bars.children[position];
      bar.style.height = nextReference ? `${4 + 96 * (largest > 0 ? Math.abs(value) / largest : 0)}%` : `${10 + 90 * norm(value)}%`;
      bar.style.background = nextReference ? deviationColour(value, largest) : css(viridis(norm(value)));
      bar.title = `channel ${channel}: ${nextWeights[channel].toFixed(3)}`;
    });
    show(selected);
  };
  for (let position = 0; position < channels; position++) {
    const bar = document.createElement('div');
    bar.style.flex = '1 1 0';
    bar.addEventListener('mouseenter', () => show(position));
    bars.append(bar);
  }
  bars.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -channels, End: channels }[event.key];
    if (step !== undefined) { event.preventDefault(); show(selected + step); }
  });
  bars.addEventListener('focus', () => show(selected));
  paint(weights, reference);
  return { bars, readout, update: paint };
}

/**
 * The feature maps of the most and least attended channels, in two captioned groups;
 * `update(block)` redraws them in place.
 */
function featureMaps(block) {
  const maps = document.createElement('div');
  maps.className = 'maps';
  const figures = [];
  for (const [label, list] of [['most attended', block.mostAttended], ['least attended', block.leastAttended]]) {
    const group = document.createElement('div');
    group.className = 'group';
    const caption = document.createElement('span');
    caption.textContent = label;
    group.append(caption);
    for (const map of list) {
      const drawn = mapFigure(map);
      figures.push(drawn);
      group.append(drawn.figure);
    }
    maps.append(group);
  }
  const update = (next) => [...next.mostAttended, ...next.leastAttended].forEach((map, i) => figures[i].draw(map));
  return { maps, update };
}

/** One feature map as a captioned figure; `draw(map)` draws another map into it. */
function mapFigure(map) {
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  const text = document.createElement('figcaption');
  const draw = (next) => {
    drawMap(canvas, next.values, next.size);
    canvas.setAttribute('aria-label', `feature map of channel ${next.channel}, weight ${next.weight.toFixed(2)}`);
    text.textContent = `#${next.channel} · ${next.weight.toFixed(2)}`;
  };
  draw(map);
  figure.append(canvas, text);
  return { figure, draw };
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
        shown.replaceChildren(mapFigure(explained.blocks[blockNumber - 1].requested).figure);
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

function blockHeading(block, index) {
  const range = `${Math.min(...block.seWeights).toFixed(3)}–${Math.max(...block.seWeights).toFixed(3)}`;
  return `Block ${index + 1} · ${block.seWeights.length} channels · weights ${range}`;
}

/** One block's section, and `update(block, reference, source)` to show another image's in it. */
function seBlockSection(block, index, reference, source) {
  const section = document.createElement('div');
  section.className = 'se-block';
  const heading = document.createElement('h3');
  heading.textContent = blockHeading(block, index);
  const bars = attentionBars(block.seWeights, index + 1, reference);
  section.append(heading, bars.bars, bars.readout);
  let deviations = reference ? deviationList(block, index + 1, reference, source) : null;
  if (deviations) section.append(deviations);
  const { maps, update: updateMaps } = featureMaps(block);
  section.append(maps);
  const update = (next, nextReference, nextSource) => {
    heading.textContent = blockHeading(next, index);
    bars.update(next.seWeights, nextReference);
    if (deviations) {
      const fresh = deviationList(next, index + 1, nextReference, nextSource);
      deviations.replaceWith(fresh);
      deviations = fresh;
    }
    updateMaps(next);
  };
  return { section, update };
}

/** The card as last drawn: its shape (`key`), its sections and their updates. */
let drawn = null;

/**
 * Shows `explained.blocks` (first to last) in the card, as the SE view switch says: the weights,
 * or how they differ from what `profiles` (the model's) call usual; `source` (the image
 * explained) is explained again when a channel's map is asked for. Where the card already holds
 * blocks of the same shape and view it is updated in place: live mode redraws it every frame, and
 * building a few hundred elements a frame kept the page's main thread busy.
 */
export function renderSeBlocks(explained, profiles, source) {
  const view = seView(profiles);
  const predicted = explained.top[0]?.index ?? 0;
  const refs = references(profiles, view, predicted);
  const card = $('se-blocks');
  const key = [view, ...explained.blocks.map((b) => `${b.seWeights.length}/${b.mostAttended.length}/${b.leastAttended.length}`)].join(' ');
  if (drawn?.key === key && drawn.sections.every((section) => section.parentElement === card)) {
    explained.blocks.forEach((block, i) => drawn.updates[i](block, refs?.[i] ?? null, source));
    return;
  }
  const built = explained.blocks.map((block, i) => seBlockSection(block, i, refs?.[i] ?? null, source));
  card.dataset.view = view;
  card.replaceChildren(...built.map((b) => b.section));
  drawn = { key, sections: built.map((b) => b.section), updates: built.map((b) => b.update) };
}
