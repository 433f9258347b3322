// The demo page's start-up: downloads the runtime and the shipped weights (an activity bar shows),
// starts the model, and wires the view modules: page-*.js (status, alerts, inputs, the explain
// view, tabs), camera.js, examples.js, then tune-*.js (the fine-tune panel). All model work
// happens in the worker behind SeCnn (www/secnn/secnn.js); the view modules draw.
//
// No static imports: the downloads start (after the first paint) while the view modules load,
// instead of after the whole module graph has arrived.
const SHIPPED_WEIGHTS = 'www/secnn/model/secnn-cifar10.bpk';
// The page starts on a small CPU-only module (the threaded one where the page is cross-origin
// isolated); SeCnn loads the WebGPU one when fine-tuning is in sight.
const WASM = { cpu: 'www/secnn/pkg-cpu/secnn_bg.wasm', threads: 'www/secnn/pkg-threads/secnn_bg.wasm' };

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Resolves once the page's first paint has been shown (or at once in a background tab, which
 * does not paint), at most `capMs` later. The runtime and the weights wait for it: Lighthouse's
 * phone simulation charges to the first paint every download that ended before it (8 s on its
 * slow link), and started with the first frame instead they often still ended before the paint
 * was shown.
 */
function firstPaint(capMs = 1000) {
  const painted = document.hidden || !PerformanceObserver.supportedEntryTypes?.includes('paint')
    || performance.getEntriesByType('paint').length > 0;
  if (painted) return Promise.resolve();
  return new Promise((resolve) => {
    new PerformanceObserver((list, observer) => { observer.disconnect(); resolve(); }).observe({ type: 'paint' });
    setTimeout(resolve, capMs);
  });
}

/**
 * What the model needs, from the first paint on, in parallel: the runtime's URL, which the
 * model's worker downloads and compiles while it streams in (off this thread: compiling 4 MB of
 * wasm here made main-thread tasks of 50–80 ms), and the shipped weights.
 */
function startDownloads() {
  const painted = firstPaint();
  const runtime = painted.then(() => {
    document.getElementById('model-status').textContent = 'downloading the model…';
    return WASM;
  });
  const shipped = painted.then(() => fetchBytes(SHIPPED_WEIGHTS));
  shipped.then(() => performance.mark('secnn:downloaded'), () => {}); // a failure is reported through create
  return { runtime, shipped };
}

const downloads = startDownloads();
const [{ SeCnn }, { drawLegend }, { $ }, { page }, { reportError, updateStatus }, { setupInputs }, { setupTabs }] = await Promise.all([
  import('../secnn/secnn.js'), import('./colormap.js'), import('./page-dom.js'), import('./page-state.js'),
  import('./page-status.js'), import('./page-inputs.js'), import('./page-tabs.js'),
]);

/** Starts the model on the downloads; its worker starts now and imports its bindings meanwhile. */
async function startModel({ runtime, shipped }) {
  // Keep a copy of the weights: the bytes sent to the worker are its own.
  // WebGPU (a 2.9 MB module) loads when fine-tuning is in sight: the CPU is as quick for one image.
  page.model = await SeCnn.create({
    backend: 'auto', weights: shipped.then((bytes) => bytes.slice()),
    wasm: { cpu: runtime.then((wasm) => wasm.cpu), threads: runtime.then((wasm) => wasm.threads) }, webgpu: 'on-demand',
  });
  page.shippedBytes = await shipped;
  page.model.addEventListener('backendchange', () => updateStatus());
  $('load-progress').hidden = true;
}

/**
 * Offline after the first visit: sw.js keeps the page, runtimes and weights. It starts after
 * the first prediction (or half a minute), so its copying never competes with it.
 */
function scheduleOfflineCopy() {
  let started = false;
  const offlineCopy = () => {
    if (started) return;
    started = true;
    navigator.serviceWorker?.register('sw.js').catch((error) => console.warn('no offline copy:', error.message));
  };
  page.afterFirstPrediction.push(offlineCopy);
  setTimeout(offlineCopy, 30_000);
}

/** Whether a module the page would run is missing: the threaded one on an isolated page, or WebGPU's. */
function missingModule({ module, fallbackReason }) {
  const threadsExpected = globalThis.crossOriginIsolated && (navigator.hardwareConcurrency ?? 1) > 1;
  return (threadsExpected && module === 'cpu') || /^WebGPU: .*(fetch|import|404|module)/i.test(fallbackReason ?? '');
}

/**
 * `make serve` serves as soon as the CPU module is built and builds the others meanwhile,
 * listing them in building.json: where a module the page would run is missing, the page asks
 * for that file and says what is still building, and when to reload. (A site never has it.)
 */
async function noteBuilding() {
  const line = $('build-line');
  for (let wasBuilding = false; ; await new Promise((resolve) => setTimeout(resolve, 10_000))) {
    const response = await fetch('building.json', { cache: 'no-store' }).catch(() => null);
    if (!response?.ok) {
      if (wasBuilding) line.textContent = 'make serve has built every module: reload the page to use them.';
      return;
    }
    const { building } = await response.json();
    wasBuilding = true;
    line.hidden = false;
    line.textContent = `make serve is still building ${building.join(', ')}; the page runs on the CPU module meanwhile.`;
  }
}

/** Notes what `make serve` is still building, once a module the page would run turns out missing. */
function watchBuilding() {
  let noted = false;
  const check = (backend) => {
    if (noted || !missingModule(backend)) return;
    noted = true;
    noteBuilding();
  };
  check(page.model.backend);
  page.model.addEventListener('backendchange', ({ detail }) => check(detail));
}

/** `?model=<URL>`: the model that link names, opened once the page runs (page-link.js). */
function openModelLink() {
  if (!new URLSearchParams(location.search).has('model')) return;
  page.modelFromLink = true; // kept work keeps its classes and photos, not its model
  import('./page-link.js').then(({ linkedModel, openLinkedModel }) => openLinkedModel(linkedModel()))
    .catch((error) => reportError('Opening the linked model failed', error));
}

/** Whether this browser keeps work from an earlier visit (the page's database exists). */
async function keptWorkHere() {
  if (!indexedDB.databases) return true; // cannot tell: assume so
  const databases = await indexedDB.databases().catch(() => []);
  return databases.some(({ name }) => name === 'secnn-page');
}

/**
 * The fine-tune panel's modules: at once when this browser keeps work from an earlier visit, so
 * the kept model is back before the visitor classifies; otherwise after the first prediction, a
 * click on the panel's tab or a few seconds, whichever comes first, so that on a first visit they
 * share the link with neither the runtime and the weights nor the first prediction.
 */
async function schedulePanel() {
  let started = false;
  const load = () => {
    if (started) return;
    started = true;
    import('./tune-panel.js').then(({ setupTraining }) => setupTraining())
      .catch((error) => reportError('Loading the fine-tune panel failed', error));
  };
  if (await keptWorkHere()) {
    load();
    return;
  }
  page.afterFirstPrediction.push(load);
  $('tab-train').addEventListener('click', load, { once: true });
  setTimeout(load, 3000);
}

async function boot() {
  setupTabs();
  setupInputs();
  drawLegend($('legend-viridis'));
  try {
    await startModel(downloads);
    updateStatus();
    document.body.dataset.ready = 'true';
    // Marks for the start-up benchmark (bench/browser.mjs) and for anyone profiling the page.
    performance.mark('secnn:ready');
    scheduleOfflineCopy();
    openModelLink();
    watchBuilding();
  } catch (error) {
    $('model-status').textContent = 'model failed to load';
    reportError('Loading the model failed', error);
    return;
  }
  schedulePanel();
}

window.addEventListener('unhandledrejection', (event) => {
  reportError('Unexpected error', event.reason instanceof Error ? event.reason : new Error(String(event.reason)));
});

boot();
