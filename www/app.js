// The demo page: status bar, classify + explain, and wiring for the fine-tune panel.
// All model work happens in the worker behind SeCnn (www/secnn.js); this file draws.
import { SeCnn, RuntimeLostError } from './secnn.js';
import { css, drawLegend, drawMap, viridis } from './colormap.js';
import { setupTraining } from './train.js';
import { snapshot } from './camera.js';
import { setupExamples } from './examples.js';

const SHIPPED_WEIGHTS = 'www/model/secnn-cifar10.bpk';
// The page starts on the small CPU-only module; SeCnn loads the WebGPU one in the background.
const WASM = 'www/pkg-cpu/secnn_bg.wasm';
const $ = (id) => document.getElementById(id);

// ---------- alerts ----------
export function showAlert(text, { kind = 'error', action } = {}) {
  const box = document.createElement('div');
  box.className = `alert ${kind === 'info' ? 'info' : ''}`;
  const span = document.createElement('span');
  span.textContent = text;
  box.append(span);
  if (action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = action.label;
    button.addEventListener('click', () => { box.remove(); action.run(); });
    box.append(button);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Dismiss';
  close.setAttribute('aria-label', 'Dismiss this message');
  close.addEventListener('click', () => box.remove());
  box.append(close);
  $('alerts').append(box);
  while ($('alerts').children.length > 4) $('alerts').firstElementChild.remove();
  return box;
}

// ---------- runtime and status ----------
const app = {
  model: null,
  shippedBytes: null,
  current: null, // { file, url, explained }
};

async function fetchWithProgress(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url} (HTTP ${response.status})`);
  // A compressed response's Content-Length counts compressed bytes, the stream gives decoded
  // ones: the total is then unknown and the bar shows activity instead of a fraction.
  const total = response.headers.get('content-encoding') ? 0 : Number(response.headers.get('content-length')) || 0;
  if (!total) onProgress(null);
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) onProgress(received / total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.length; }
  return bytes;
}

export function updateStatus() {
  const { backend, info } = app.model;
  const badge = $('backend-badge');
  const cpuClassifies = backend.backend === 'webgpu' && backend.classifier === 'cpu';
  if (cpuClassifies) {
    const ms = (value) => `${value.toFixed(1)} ms`;
    badge.textContent = `WebGPU · ${backend.adapter} · classifying on the CPU`;
    badge.className = 'badge webgpu';
    badge.title = `One image classifies faster on this CPU (${ms(backend.probe.cpuMs)}) than on WebGPU `
      + `(${ms(backend.probe.webgpuMs)}), so classification runs on the CPU and fine-tuning on the GPU`;
  } else if (backend.backend === 'webgpu') {
    badge.textContent = `WebGPU · ${backend.adapter}`;
    badge.className = 'badge webgpu';
    badge.title = 'Running on the GPU through WebGPU';
  } else if (backend.onDemand) {
    badge.textContent = 'CPU · WebGPU on demand';
    badge.className = 'badge cpu';
    badge.title = 'Running on the CPU, as fast as the GPU for one image; WebGPU loads when you fine-tune';
  } else if (backend.loading) {
    badge.textContent = 'CPU · loading WebGPU…';
    badge.className = 'badge cpu';
    badge.title = 'Running on the CPU now; the WebGPU runtime is loading and takes over when ready';
  } else {
    badge.textContent = 'CPU (no WebGPU)';
    badge.className = 'badge cpu';
    badge.title = backend.fallbackReason ? `WebGPU unavailable: ${backend.fallbackReason}` : 'CPU backend chosen';
  }
  const percent = (value) => `${(value * 100).toFixed(2)} %`; // as `secnn eval` prints it
  // The badge keeps to one line (a fixed slot); the whole story is in its tooltip.
  const accuracy = info.accuracy != null ? ` · ${percent(info.accuracy)}` : '';
  const withTta = info.accuracyTta != null ? `, ${percent(info.accuracyTta)} with flip averaging` : '';
  $('model-status').textContent = `${info.name}${accuracy}`;
  $('model-status').title = info.accuracy != null
    ? `${info.name}: ${percent(info.accuracy)} accuracy${withTta}${info.accuracyOn ? `, measured on ${info.accuracyOn}` : ''}`
    : info.description;
  $('model-description').textContent = info.description;
  $('inference-backend').textContent = cpuClassifies ? 'the CPU (faster than WebGPU for one image here)'
    : backend.backend === 'webgpu' ? `WebGPU (${backend.adapter})` : 'the CPU';
  fillClassSelect();
}

async function restartOnCpu() {
  try {
    await app.model.recreate({ backend: 'cpu', weights: app.shippedBytes });
    updateStatus();
    showAlert('Restarted on the CPU with the shipped weights.', { kind: 'info' });
  } catch (error) {
    showAlert(`Could not restart: ${error.message}`);
  }
}

/** Shows an error from a model call; a lost runtime gets a restart button. */
export function reportError(context, error) {
  console.warn(context, error);
  // A crashed runtime, or a GPU that failed or was lost: offer to carry on on the CPU.
  if (error instanceof RuntimeLostError || /compute device failed|device was lost/i.test(error.message)) {
    showAlert(`${context}: the model runtime stopped (${error.message}).`, {
      action: { label: 'Restart on the CPU', run: restartOnCpu },
    });
  } else {
    showAlert(`${context}: ${error.message}`);
  }
}

// ---------- classify and explain ----------
function fillClassSelect() {
  const select = $('cam-class');
  const classes = app.model.info.classes;
  select.replaceChildren(...classes.map((label, index) => new Option(label, String(index))));
}

function drawRgba(canvas, rgba, size = 32) {
  canvas.width = size;
  canvas.height = size;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), size, size), 0, 0);
}

function renderTop(top) {
  $('top5').replaceChildren(...top.map(({ label, probability }) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = label;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.style.width = `${(probability * 100).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = `${(probability * 100).toFixed(1)} %`;
    item.append(name, bar, value);
    item.setAttribute('aria-label', `${label}: ${(probability * 100).toFixed(1)} percent`);
    return item;
  }));
}

/** Grad-CAM over the centre crop of the original image (the region the model sees). */
async function renderGradCam(explained) {
  const canvas = $('gradcam-canvas');
  const context = canvas.getContext('2d');
  const side = canvas.width;
  const image = $('original-image');
  if (image.complete && image.naturalWidth) {
    const short = Math.min(image.naturalWidth, image.naturalHeight);
    const sx = (image.naturalWidth - short) / 2;
    const sy = (image.naturalHeight - short) / 2;
    context.drawImage(image, sx, sy, short, short, 0, 0, side, side);
  } else {
    const input = document.createElement('canvas');
    drawRgba(input, explained.inputRgba);
    context.imageSmoothingEnabled = false;
    context.drawImage(input, 0, 0, side, side);
  }
  const { values, size } = explained.gradcam;
  const heat = new OffscreenCanvas(size, size);
  const heatContext = heat.getContext('2d');
  const pixels = heatContext.createImageData(size, size);
  values.forEach((v, i) => {
    const [r, g, b] = viridis(v);
    pixels.data.set([r, g, b, 90 + 140 * v], i * 4);
  });
  heatContext.putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(heat, 0, 0, side, side);
  canvas.setAttribute('aria-label', `Grad-CAM heatmap for ${explained.gradcam.label}`);
  $('cam-class').value = String(explained.gradcam.class);
}

function renderSeBlocks(blocks) {
  const container = $('se-blocks');
  container.replaceChildren(...blocks.map((block, index) => {
    const section = document.createElement('div');
    section.className = 'se-block';
    const channels = block.seWeights.length;
    const heading = document.createElement('h3');
    const range = `${Math.min(...block.seWeights).toFixed(3)}–${Math.max(...block.seWeights).toFixed(3)}`;
    heading.textContent = `Block ${index + 1} · ${channels} channels · weights ${range}`;
    const order = block.seWeights.map((w, c) => [w, c]).sort((a, b) => b[0] - a[0]);
    const bars = document.createElement('div');
    bars.className = 'se-bars';
    bars.id = `se-block-${index + 1}`;
    bars.tabIndex = 0;
    bars.setAttribute('role', 'group');
    bars.setAttribute('aria-label', `Block ${index + 1} attention weights, sorted; use the arrow keys to read them`);
    const readout = document.createElement('div');
    readout.className = 'se-readout';
    readout.setAttribute('aria-live', 'polite');
    let selected = 0;
    const show = (position) => {
      selected = Math.max(0, Math.min(order.length - 1, position));
      const [weight, channel] = order[selected];
      readout.textContent = `channel ${channel}: weight ${weight.toFixed(3)} (rank ${selected + 1} of ${channels})`;
      bars.querySelectorAll('.selected').forEach((el) => el.classList.remove('selected'));
      bars.children[selected]?.classList.add('selected');
    };
    // The weights of one block often sit close together: scale bars and colours to the block's range.
    const lo = order[order.length - 1][0];
    const hi = order[0][0];
    const norm = (w) => (hi > lo ? (w - lo) / (hi - lo) : 1);
    order.forEach(([weight, channel], position) => {
      const bar = document.createElement('div');
      bar.style.height = `${10 + 90 * norm(weight)}%`;
      bar.style.background = css(viridis(norm(weight)));
      bar.style.flex = '1 1 0';
      bar.title = `channel ${channel}: ${weight.toFixed(3)}`;
      bar.addEventListener('mouseenter', () => show(position));
      bars.append(bar);
    });
    bars.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1, Home: -channels, End: channels }[event.key];
      if (step !== undefined) { event.preventDefault(); show(selected + step); }
    });
    bars.addEventListener('focus', () => show(selected));
    show(0);
    const maps = document.createElement('div');
    maps.className = 'maps';
    for (const [label, list] of [['most attended', block.mostAttended], ['least attended', block.leastAttended]]) {
      const group = document.createElement('div');
      group.className = 'group';
      const caption = document.createElement('span');
      caption.textContent = label;
      group.append(caption);
      for (const map of list) {
        const figure = document.createElement('figure');
        const canvas = document.createElement('canvas');
        drawMap(canvas, map.values, map.size);
        canvas.setAttribute('aria-label', `feature map of channel ${map.channel}, weight ${map.weight.toFixed(2)}`);
        const text = document.createElement('figcaption');
        text.textContent = `#${map.channel} · ${map.weight.toFixed(2)}`;
        figure.append(canvas, text);
        group.append(figure);
      }
      maps.append(group);
    }
    section.append(heading, bars, readout, maps);
    return section;
  }));
}

async function showExplanation(entry, camClass = null) {
  const explained = await app.model.explain(entry.file, { topK: 5, channels: 4, camClass, tta: $('tta').checked });
  entry.explained = explained;
  $('answer-empty').hidden = true;
  $('answer-body').hidden = false;
  $('results').hidden = false;
  const image = $('original-image');
  if (image.src !== entry.url) {
    image.src = entry.url;
    await image.decode().catch(() => {});
  }
  image.alt = `Your image: ${entry.file.name || 'pasted image'}`;
  drawRgba($('model-input'), explained.inputRgba);
  renderTop(explained.top);
  $('inference-time').textContent = `${explained.milliseconds.toFixed(1)} ms (with attention and Grad-CAM)`;
  await renderGradCam(explained);
  renderSeBlocks(explained.blocks);
  document.querySelectorAll('#gallery button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.key === entry.key)));
}

let nextKey = 1;
async function classifyFiles(files) {
  performance.mark('secnn:input');
  for (const file of files) {
    const name = file.name || 'pasted image';
    if (file.size === 0) {
      showAlert(`${name} is empty (0 bytes): nothing to classify.`);
      continue;
    }
    const entry = { key: String(nextKey++), file, url: URL.createObjectURL(file), explained: null };
    try {
      await showExplanation(entry);
    } catch (error) {
      URL.revokeObjectURL(entry.url);
      reportError(`Could not classify ${name}`, error);
      continue;
    }
    app.current = entry;
    addToGallery(entry);
    performance.mark('secnn:explained');
    const after = app.afterFirstPrediction;
    app.afterFirstPrediction = null;
    after?.();
  }
}

function addToGallery(entry) {
  const item = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.key = entry.key;
  button.setAttribute('aria-pressed', 'true');
  button.title = `${entry.file.name || 'pasted image'}: ${entry.explained.top[0].label}`;
  const thumb = document.createElement('img');
  thumb.src = entry.url;
  thumb.alt = button.title;
  button.append(thumb);
  button.addEventListener('click', async () => {
    app.current = entry;
    try { await showExplanation(entry); } catch (error) { reportError('Could not explain', error); }
  });
  item.append(button);
  $('gallery').prepend(item);
}

function setupInputs() {
  setupExamples($('examples'), $('random-example'), (file) => classifyFiles([file]));
  const zone = $('drop-zone');
  $('file-input').addEventListener('change', (event) => {
    classifyFiles([...event.target.files]);
    event.target.value = '';
  });
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    classifyFiles([...event.dataTransfer.files]);
  });
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); $('file-input').click(); }
  });
  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length && !$('panel-classify').hidden) classifyFiles(files);
  });
  $('tta').addEventListener('change', async () => {
    if (!app.current) return;
    try { await showExplanation(app.current, Number($('cam-class').value)); } catch (error) { reportError('Classify', error); }
  });
  $('cam-class').addEventListener('change', async () => {
    if (!app.current) return;
    try { await showExplanation(app.current, Number($('cam-class').value)); } catch (error) { reportError('Grad-CAM', error); }
  });

  // Camera capture, where the browser has one (the button is there from the start, so nothing moves).
  if (!navigator.mediaDevices?.getUserMedia) {
    $('camera-button').hidden = true;
  } else {
    const button = $('camera-button');
    let stream = null;
    const close = () => { stream?.getTracks().forEach((t) => t.stop()); stream = null; $('camera').hidden = true; };
    button.addEventListener('click', async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        $('camera-video').srcObject = stream;
        $('camera').hidden = false;
      } catch (error) {
        showAlert(`The camera is not available: ${error.message}`);
      }
    });
    $('camera-close').addEventListener('click', close);
    $('capture-button').addEventListener('click', async () => {
      classifyFiles([await snapshot($('camera-video'))]);
    });
  }
}

function setupTabs() {
  const tabs = [$('tab-classify'), $('tab-train')];
  const select = (tab) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
    }
    if (tab.id === 'tab-train') app.model?.loadWebGpu(); // fine-tuning is in sight
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (event) => {
      const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (move) {
        const next = tabs[(index + move + tabs.length) % tabs.length];
        select(next);
        next.focus();
      }
    });
  });
}

async function boot() {
  setupTabs();
  setupInputs();
  drawLegend($('legend-viridis'));
  const progress = $('load-progress');
  try {
    // Both downloads report progress: the runtime (wasm) first, then the weights.
    $('model-status').textContent = 'downloading the runtime…';
    const show = (from, span) => (f) => {
      if (f === null) progress.removeAttribute('value'); // indeterminate
      else progress.value = from + span * f;
    };
    // In parallel (the page preloads both); the bar follows the runtime, the larger download.
    const [wasm, weights] = await Promise.all([fetchWithProgress(WASM, show(0, 95)), fetchWithProgress(SHIPPED_WEIGHTS, () => {})]);
    app.shippedBytes = weights;
    $('model-status').textContent = 'starting the runtime…';
    // Keep a copy of the weights: the bytes sent to the worker are its own.
    // WebGPU (a 2.9 MB module) loads when fine-tuning is in sight: the CPU is as quick for one image.
    app.model = await SeCnn.create({ backend: 'auto', weights: app.shippedBytes.slice(), wasm: { cpu: wasm }, webgpu: 'on-demand' });
    app.model.addEventListener('backendchange', () => updateStatus());
    progress.value = 100;
    progress.hidden = true;
    updateStatus();
    document.body.dataset.ready = 'true';
    // Marks for the start-up benchmark (bench/browser.mjs) and for anyone profiling the page.
    performance.mark('secnn:ready');
    // Offline after the first visit: sw.js keeps the page, runtimes and weights. It starts after
    // the first prediction (or half a minute), so its copying never competes with it.
    const offlineCopy = () => navigator.serviceWorker?.register('sw.js').catch((error) => console.warn('no offline copy:', error.message));
    app.afterFirstPrediction = offlineCopy;
    setTimeout(() => app.afterFirstPrediction?.(), 30_000);
  } catch (error) {
    $('model-status').textContent = 'model failed to load';
    reportError('Loading the model failed', error);
    return;
  }
  setupTraining({ app, showAlert, reportError, updateStatus });
}

window.addEventListener('unhandledrejection', (event) => {
  reportError('Unexpected error', event.reason instanceof Error ? event.reason : new Error(String(event.reason)));
});

boot();
