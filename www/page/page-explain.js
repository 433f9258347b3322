// The explain view: the answer card (the image, the input the model sees (its input size square), the top five classes,
// the time it took), Grad-CAM over the image, and the SE blocks (page-se-blocks.js).
import { viridis } from './colormap.js';
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { renderSeBlocks } from './page-se-blocks.js';

/** The Grad-CAM card's class list: the loaded model's classes. */
export function fillClassSelect(classes) {
  const select = $('cam-class');
  // A backend change (WebGPU taking over, the CPU's threads starting) keeps the classes: keep the reader's choice too.
  if (select.options.length === classes.length && classes.every((label, index) => select.options[index].text === label)) return;
  select.replaceChildren(...classes.map((label, index) => new Option(label, String(index))));
}

/** The model's view of an image: RGBA at the runtime's input size. */
function drawRgba(canvas, rgba, size = page.model.facts.inputSize) {
  canvas.width = size;
  canvas.height = size;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), size, size), 0, 0);
}

/** One line of the top-k list: the class, a bar and the percentage. */
export function topClassItem({ label, probability }) {
  const percent = (probability * 100).toFixed(1);
  const item = document.createElement('li');
  const name = document.createElement('span');
  name.textContent = label;
  name.title = label; // a long name is cut short on screen
  const bar = document.createElement('span');
  bar.className = 'bar';
  bar.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('span');
  fill.style.width = `${percent}%`;
  bar.append(fill);
  const value = document.createElement('span');
  value.className = 'value';
  value.textContent = `${percent} %`;
  item.append(name, bar, value);
  item.setAttribute('aria-label', `${label}: ${percent} percent`);
  return item;
}

/** The background of the Grad-CAM canvas: the centre crop of the original (the region the model sees). */
function drawCentreCrop(context, side, inputRgba) {
  const image = $('original-image');
  if (image.complete && image.naturalWidth) {
    const short = Math.min(image.naturalWidth, image.naturalHeight);
    const sx = (image.naturalWidth - short) / 2;
    const sy = (image.naturalHeight - short) / 2;
    context.drawImage(image, sx, sy, short, short, 0, 0, side, side);
  } else {
    const input = document.createElement('canvas');
    drawRgba(input, inputRgba);
    context.imageSmoothingEnabled = false;
    context.drawImage(input, 0, 0, side, side);
  }
}

/** Grad-CAM's values (`{ values, size }`) as a translucent viridis layer, `size` pixels square. */
export function heatLayer({ values, size }) {
  const heat = new OffscreenCanvas(size, size);
  const heatContext = heat.getContext('2d');
  const pixels = heatContext.createImageData(size, size);
  values.forEach((v, i) => {
    const [r, g, b] = viridis(v);
    pixels.data.set([r, g, b, 90 + 140 * v], i * 4);
  });
  heatContext.putImageData(pixels, 0, 0);
  return heat;
}

/** Grad-CAM as a translucent viridis layer over the centre crop. */
function renderGradCam(explained) {
  const canvas = $('gradcam-canvas');
  const context = canvas.getContext('2d');
  const side = canvas.width;
  drawCentreCrop(context, side, explained.inputRgba);
  context.imageSmoothingEnabled = true;
  context.drawImage(heatLayer(explained.gradcam), 0, 0, side, side);
  canvas.setAttribute('aria-label', `Grad-CAM heatmap for ${explained.gradcam.label}`);
  $('cam-class').value = String(explained.gradcam.class);
}

/**
 * Explains `entry` ({ key, file, url }) and shows it; `camClass` picks Grad-CAM's class (null:
 * the top one). Keeps the result on the entry, so its gallery thumbnail can be titled.
 */
export async function showExplanation(entry, camClass = null) {
  const explained = await page.model.explain(entry.file, { topK: 5, channels: 4, camClass, tta: $('tta').checked });
  entry.explained = explained;
  $('answer-empty').hidden = true;
  $('answer-body').hidden = false;
  $('answer-body').classList.remove('live');
  $('results').hidden = false;
  const image = $('original-image');
  if (image.src !== entry.url) {
    image.src = entry.url;
    await image.decode().catch(() => {});
  }
  image.alt = `Your image: ${entry.file.name || 'pasted image'}`;
  drawRgba($('model-input'), explained.inputRgba);
  $('top5').replaceChildren(...explained.top.map(topClassItem));
  $('inference-time').textContent = `${explained.milliseconds.toFixed(1)} ms (with attention and Grad-CAM)`;
  renderGradCam(explained);
  renderSeBlocks(explained, page.model.info.profiles, entry.file);
  document.querySelectorAll('#gallery button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.key === entry.key)));
}
