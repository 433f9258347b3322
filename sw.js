// The page's service worker: after the first visit the page, both scripts of the module, the
// wasm runtime, the vendored chart library and the shipped weights come from this cache when
// the network does not answer, so the page classifies and fine-tunes offline.
// Network first: online, every file is fetched (a 304 when unchanged) and the cached copy
// replaced, so a rebuilt wasm module never runs next to older JavaScript.
// Every response it serves carries the cross-origin isolation headers (COOP/COEP), so on a
// static host that cannot send them the page is isolated from its second visit on, and runs
// the threaded CPU module (www/secnn/pkg-threads/).
const CACHE = 'secnn-app-v8'; // a new name drops files the page no longer has (v8: the pool's page side in its own file)
const APP_FILES = [
  './',
  'index.html',
  'manifest.webmanifest',
  'www/icon.svg',
  'www/icon-192.png',
  'www/icon-512.png',
  'www/icon-maskable-512.png',
  'www/apple-touch-icon.png',
  'www/page/app.js',
  'www/page/page-dom.js',
  'www/page/page-state.js',
  'www/page/page-alerts.js',
  'www/page/page-status.js',
  'www/page/page-explain.js',
  'www/page/page-se-blocks.js',
  'www/page/page-se-profiles.js',
  'www/page/page-inputs.js',
  'www/page/page-tabs.js',
  'www/page/examples.js',
  'www/page/examples/cifar10-examples.jpg',
  'www/examples/embed.html',
  'www/examples/embed.js',
  'www/page/tune-panel.js',
  'www/page/tune-data.js',
  'www/page/tune-classes.js',
  'www/page/tune-run.js',
  'www/page/tune-progress.js',
  'www/page/tune-tables.js',
  'www/page/tune-se-history.js',
  'www/page/tune-weights.js',
  'www/page/charts.js',
  'www/page/colormap.js',
  'www/page/camera.js',
  'www/page/page-live.js',
  'www/page/page-link.js',
  'www/page/tune-settings.js',
  'www/page/photo-prep.js',
  'www/page/project-store.js',
  'www/page/project-keeper.js',
  'www/page/project-restore.js',
  'www/page/project-file.js',
  'www/secnn/secnn.js',
  'www/secnn/secnn-worker.js',
  'www/secnn/secnn-args.js',
  'www/secnn/secnn-protocol.js',
  'www/secnn/secnn-assets.js',
  'www/secnn/secnn-images.js',
  'www/secnn/secnn-backends.js',
  'www/secnn/secnn-pool.js',
  'www/secnn/secnn-store.js',
  'www/secnn/secnn-fetch.js',
  'www/page/vendor/uPlot.esm.js',
  'www/page/vendor/uPlot.min.css',
  'www/secnn/model/secnn-cifar10.bpk',
];
// The WebGPU module (2.9 MB), the archive and ONNX modules are kept once the page has used them, not
// copied at install: a visitor who only classifies never downloads them.
const ON_DEMAND_FILES = [
  'www/secnn/pkg/secnn.js',
  'www/secnn/pkg/secnn_bg.wasm',
  // The archive module: loaded when a project is saved or an archive opened.
  'www/secnn/pkg-archive/secnn_archive.js',
  'www/secnn/pkg-archive/secnn_archive_bg.wasm',
  // The ONNX writer: loaded when ONNX is exported.
  'www/secnn/pkg-onnx/secnn_onnx.js',
  'www/secnn/pkg-onnx/secnn_onnx_bg.wasm',
];
// The single-threaded CPU module, what a page that is not isolated runs.
const CPU_FILES = [
  'www/secnn/pkg-cpu/secnn.js',
  'www/secnn/pkg-cpu/secnn_bg.wasm',
];
// The threaded CPU module, what an isolated page runs: its glue, its wasm, and its thread
// pool's worker.
const THREADED_FILES = [
  'www/secnn/pkg-threads/secnn.js',
  'www/secnn/pkg-threads/secnn_bg.wasm',
  'www/secnn/secnn-pool-worker.js',
];
const scope = new URL(self.registration.scope);
const appUrls = new Set([...APP_FILES, ...ON_DEMAND_FILES, ...CPU_FILES, ...THREADED_FILES].map((file) => new URL(file, scope).href));
const isAppUrl = (href) => appUrls.has(href);

const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** `response` with the isolation headers (a copy; the body is streamed, not read). */
function isolated(response) {
  if (response.type === 'opaque' || response.headers.get('Cross-Origin-Embedder-Policy')) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// The page registers this worker after its first prediction, so what it just downloaded is in
// the HTTP cache: 'force-cache' copies it from there instead of downloading it again.
// With the CPU module the page runs: the threaded one where this worker is isolated too (as the
// page is then) and there are two cores, else the single-threaded one (the other is kept once used).
self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const threaded = self.crossOriginIsolated && (navigator.hardwareConcurrency ?? 1) > 1 && typeof Atomics.waitAsync === 'function';
    const files = [...APP_FILES, ...(threaded ? THREADED_FILES : CPU_FILES)];
    const cache = await caches.open(CACHE);
    await cache.addAll(files.map((file) => new Request(file, { cache: 'force-cache' })));
    await self.skipWaiting();
  })());
});

// No clients.claim(): the page that registered this worker stays uncontrolled, and the next
// load is served by it (offline, isolated). Firefox 153 fails the first request a claimed page
// makes, a reload included (NS_ERROR_INTERCEPTION_FAILED), once the page runs the threaded
// module's pool of workers.
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)))));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  url.search = '';
  if (event.request.method !== 'GET' || !isAppUrl(url.href)) return; // not ours: the network as usual
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(url.href, response.clone());
      return isolated(response);
    } catch (error) {
      const cached = await cache.match(url.href);
      if (cached) return isolated(cached);
      throw error;
    }
  })());
});
