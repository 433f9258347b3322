// The demo page's start-up: downloads the runtime and the shipped weights (with a progress bar),
// starts the model, and wires the view modules: page-*.js (status, alerts, inputs, the explain
// view, tabs), camera.js, examples.js, then tune-*.js (the fine-tune panel). All model work
// happens in the worker behind SeCnn (www/secnn.js); the view modules draw.
import { SeCnn } from './secnn.js';
import { drawLegend } from './colormap.js';
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { reportError, updateStatus } from './page-status.js';
import { setupInputs } from './page-inputs.js';
import { setupTabs } from './page-tabs.js';

const SHIPPED_WEIGHTS = 'www/model/secnn-cifar10.bpk';
// The page starts on the small CPU-only module; SeCnn loads the WebGPU one in the background.
const WASM = 'www/pkg-cpu/secnn_bg.wasm';

/** `response` with its body counted into `onProgress` (a fraction, or null when the total is unknown). */
function counted(response, onProgress) {
  if (!response.ok) throw new Error(`could not load ${response.url} (HTTP ${response.status})`);
  // A compressed response's Content-Length counts compressed bytes, the stream gives decoded
  // ones: the total is then unknown and the bar shows activity instead of a fraction.
  const total = response.headers.get('content-encoding') ? 0 : Number(response.headers.get('content-length')) || 0;
  if (!total) onProgress(null);
  let received = 0;
  const counter = new TransformStream({
    transform(chunk, controller) {
      received += chunk.length;
      if (total) onProgress(received / total);
      controller.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(counter), { headers: response.headers });
}

/** The runtime, compiled while it downloads (the compile overlaps the transfer). */
async function compileRuntime(onProgress) {
  const response = counted(await fetch(WASM), onProgress);
  // compileStreaming needs the wasm MIME type; a host that sends another gets the bytes compiled at the end.
  if (response.headers.get('content-type')?.startsWith('application/wasm')) return WebAssembly.compileStreaming(response);
  return WebAssembly.compile(await response.arrayBuffer());
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Downloads the runtime and the weights, and starts the model on them. */
async function startModel() {
  const progress = $('load-progress');
  $('model-status').textContent = 'downloading the runtime…';
  const show = (from, span) => (f) => {
    if (f === null) progress.removeAttribute('value'); // indeterminate
    else progress.value = from + span * f;
  };
  // In parallel (the page preloads both); the bar follows the runtime. The model's worker starts
  // now and imports its bindings meanwhile; it gets the compiled runtime and the weights as they arrive.
  const runtime = compileRuntime(show(0, 95));
  const shipped = fetchBytes(SHIPPED_WEIGHTS);
  Promise.all([runtime, shipped]).then(() => {
    performance.mark('secnn:downloaded');
    $('model-status').textContent = 'starting the runtime…';
  }, () => {}); // a failure is reported through create
  // Keep a copy of the weights: the bytes sent to the worker are its own.
  // WebGPU (a 2.9 MB module) loads when fine-tuning is in sight: the CPU is as quick for one image.
  page.model = await SeCnn.create({
    backend: 'auto', weights: shipped.then((bytes) => bytes.slice()), wasm: { cpu: runtime }, webgpu: 'on-demand',
  });
  page.shippedBytes = await shipped;
  page.model.addEventListener('backendchange', () => updateStatus());
  progress.value = 100;
  progress.hidden = true;
}

/**
 * Offline after the first visit: sw.js keeps the page, runtimes and weights. It starts after
 * the first prediction (or half a minute), so its copying never competes with it.
 */
function scheduleOfflineCopy() {
  const offlineCopy = () => navigator.serviceWorker?.register('sw.js').catch((error) => console.warn('no offline copy:', error.message));
  page.afterFirstPrediction = offlineCopy;
  setTimeout(() => page.afterFirstPrediction?.(), 30_000);
}

async function boot() {
  setupTabs();
  setupInputs();
  drawLegend($('legend-viridis'));
  try {
    await startModel();
    updateStatus();
    document.body.dataset.ready = 'true';
    // Marks for the start-up benchmark (bench/browser.mjs) and for anyone profiling the page.
    performance.mark('secnn:ready');
    scheduleOfflineCopy();
  } catch (error) {
    $('model-status').textContent = 'model failed to load';
    reportError('Loading the model failed', error);
    return;
  }
  // The fine-tune panel's modules load after start-up: on the first visit they would share the
  // link with the runtime and the weights, and they are not needed for the first prediction.
  import('./tune-panel.js').then(({ setupTraining }) => setupTraining())
    .catch((error) => reportError('Loading the fine-tune panel failed', error));
}

window.addEventListener('unhandledrejection', (event) => {
  reportError('Unexpected error', event.reason instanceof Error ? event.reason : new Error(String(event.reason)));
});

boot();
