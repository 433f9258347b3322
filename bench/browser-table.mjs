// The browser benchmark's report (bench/browser.mjs): its results as the Markdown that goes
// between the `browser` markers in BENCHMARKS.md, one function per section.

export const fmt = (value, digits = 0) => (value == null || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

/** secnn's CPU path against TF.js on the page: latency and fine-tuning. */
function comparisonRows({ secnnCpu: s, tfjs: t, paired: p }) {
  const tfTrain = ['webgl', 'cpu']
    .map((name) => ({ name, imagesPerSecond: t[name]?.training?.medianImagesPerSecond }))
    .filter((x) => x.imagesPerSecond != null)
    .sort((a, b) => b.imagesPerSecond - a.imagesPerSecond)[0];
  return [
    '| measure | secnn (wasm, CPU) | TensorFlow.js 4.22 | secnn / TF.js |',
    '|---|---|---|---|',
    `| batch-1 classify latency, on the page (ms, lower is better) | ${fmt(p.secnnMs, 2)} | ${fmt(p.tfjsMs, 2)} (wasm backend) | ${fmt(p.ratio, 2)}× (median of ${p.pairs.length} paired runs) |`,
    `| batch-1 classify latency through the module's worker (ms) | ${fmt(s.latency.medianMs, 2)} | – | ${fmt(s.latency.medianMs / p.tfjsMs, 2)}× (vs the TF.js median above) |`,
    `| full fine-tuning, batch 64, augmented (images/s) | ${fmt(s.full.imagesPerSecond, 1)} | ${tfTrain ? `${fmt(tfTrain.imagesPerSecond, 1)} (${tfTrain.name} backend, batch 16)` : '–'} | ${tfTrain ? `${fmt(s.full.imagesPerSecond / tfTrain.imagesPerSecond, 1)}×` : '–'} |`,
    `| head-only fine-tuning, cached features (images/s) | ${fmt(s.head.imagesPerSecond)} | – | – |`,
  ];
}

/** The CPU-only module against the full one (none where that part never ran). */
function moduleRows(m) {
  if (!m) return [];
  return [
    '| CPU path | CPU-only module (`www/secnn/pkg-cpu`, profile `wasm-cpu`) | full module (`www/pkg`, release) | CPU-only / full |',
    '|---|---|---|---|',
    `| batch-1 classify on the page (ms) | ${fmt(m.cpuModuleMs, 2)} | ${fmt(m.fullModuleMs, 2)} | ${fmt(m.latencyRatio, 3)}× (median of ${m.pairs.length} paired runs) |`,
    `| full fine-tuning, batch 64, augmented (images/s) | ${fmt(m.fineTuneCpuModule, 1)} | ${fmt(m.fineTuneFullModule, 1)} | ${fmt(m.fineTuneRatio, 3)}× (2 runs each, alternating) |`,
    '',
  ];
}

/** The threaded module against the single-threaded one and TF.js's threads (none where that part never ran). */
function threadRows(threads) {
  const th = threads?.summary;
  if (!th) return [];
  return [
    `Threads: the page cross-origin isolated, as \`make serve\` serves it. secnn's threaded CPU module (\`www/secnn/pkg-threads\`,`,
    `a pool of ${threads.threadCount} Web Workers) against its single-threaded one (\`www/secnn/pkg-cpu\`), same run, alternating;`,
    `TF.js's wasm backend is asked for as many threads (\`setThreadsCount\`) on the same isolated page; it reports ${threads.tfjsThreads ?? '–'}`,
    `(its threaded build loads: \`WASM_HAS_MULTITHREAD_SUPPORT\` is true). Medians of ${threads.fineTune.threads.length} rounds.`,
    '',
    '| measure | threaded module | single-threaded module | threaded / single | TF.js wasm, same threads | threaded / TF.js |',
    '|---|---|---|---|---|---|',
    `| full fine-tuning, batch 64, augmented (images/s) | ${fmt(th.fineTuneThreads, 1)} | ${fmt(th.fineTuneCpu, 1)} | ${fmt(th.fineTuneRatio, 2)}× | – | – |`,
    `| batch-1 classify on the page (ms) | ${fmt(th.pageThreadsMs, 2)} | ${fmt(th.pageCpuMs, 2)} | ${fmt(th.pageThreadsMs / th.pageCpuMs, 2)}× | ${fmt(th.pageTfjsMs, 2)} | ${fmt(th.pageRatio, 2)}× (median of paired runs) |`,
    `| batch-1 classify through the module's worker (ms) | ${fmt(th.latencyThreadsMs, 2)} | ${fmt(th.latencyCpuMs, 2)} | ${fmt(th.latencyThreadsMs / th.latencyCpuMs, 2)}× | – | – |`,
    `| demo page, navigation → first prediction, cold, localhost (ms) | ${fmt(th.coldThreadsMs)} | ${fmt(th.coldCpuMs)} (page not isolated) | ${fmt(th.coldThreadsMs / th.coldCpuMs, 2)}× | – | – |`,
    ...(th.throttledThreadsMs ? [
      `| the same over 10 Mbit/s, 40 ms (ms) | ${fmt(th.throttledThreadsMs)} | ${fmt(th.throttledCpuMs)} | ${fmt(th.throttledThreadsMs / th.throttledCpuMs, 2)}× | – | – |`,
      `| bytes before that first prediction | ${fmt(th.throttledThreadsBytes)} | ${fmt(th.throttledCpuBytes)} | ${fmt(th.throttledThreadsBytes / th.throttledCpuBytes, 2)}× | – | – |`,
    ] : []),
    '',
  ];
}

/** First loads over a throttled link, cold and warm (none where that part never ran). */
function loadRows(l) {
  if (!l) return [];
  return [
    'First load over a throttled link (DevTools: 10 Mbit/s, 40 ms latency), CPU backend, the image',
    'given the moment the page is ready; bytes are what crossed the network (compressed) until the',
    'first prediction. Cold: a fresh profile with the HTTP cache disabled. Warm: the same profile',
    'after the first visit (service worker offline copy, revalidations only). DevTools throttles',
    'the page, not the service worker (its own target): its revalidations, up to one 40 ms round',
    'trip per file, are not in the warm figure, and the bytes they move are not counted.',
    '',
    '| visit | navigation → ready (ms) | navigation → first prediction (ms) | bytes before the first prediction |',
    '|---|---|---|---|',
    `| cold | ${fmt(l.cold.readyMs)} | ${fmt(l.cold.firstPredictionMs)} | ${fmt(l.cold.bytes)} |`,
    `| warm | ${fmt(l.warm.readyMs)} | ${fmt(l.warm.firstPredictionMs)} | ${fmt(l.warm.bytes)} |`,
    '',
  ];
}

/** Cold starts on the demo page, the image given at once or `thinkMs` later. */
function startupRows(startup, thinkMs) {
  return [
    'Cold start on the demo page (`make serve`): a fresh browser profile each run, served from',
    'localhost, so network time is not included (the bytes are below). The image (a 1000×1670 PNG)',
    `is given either the moment the page is ready or ${thinkMs / 1000} s later, as a person picking a file would;`,
    'the runtime warms up (one explanation of a grey image) meanwhile.',
    '',
    '| backend | navigation → ready (ms) | first explanation, image given at once (ms) | navigation → first prediction (ms) | first explanation, image given 2 s later (ms) |',
    '|---|---|---|---|---|',
    ...startup.map((x) => `| ${x.label} | ${fmt(x.readyMs)} | ${fmt(x.firstExplainMs)} | ${fmt(x.firstPredictionMs)} | ${fmt(x.firstExplainLaterMs)} |`),
    '',
  ];
}

/** Fine-tuning by batch size and the runtime's own batch-1 time, with why TF.js's training figure is what it is. */
function noteRows({ secnnCpu: s, tfjs: t }) {
  const batches = Object.keys(s.byBatch ?? {}).map(Number).sort((a, b) => a - b);
  const wasmError = t.wasm?.training?.ok === false ? t.wasm.training.error : null;
  return [
    ...(batches.length ? [
      `Full fine-tuning (augmented) by batch size, images/s: ${batches.map((b) => `${b}: ${fmt(s.byBatch[b], 1)}`).join(', ')}`,
      '(batch 64 from the row above; the others are medians of 3 epochs after the first).',
      '',
    ] : []),
    `Inside the worker the runtime reports ${fmt(s.latency.runtimeMedianMs, 2)} ms per batch-1 classification; the rest is the round trip`,
    'and copying the result.',
    `TF.js's wasm backend cannot train this model${wasmError ? ` (\`${wasmError.split('\n')[0].slice(0, 120)}\`)` : ''}, so its training`,
    'figure is the faster of its webgl (software GL here) and cpu backends.',
    '',
  ];
}

/** The whole report; `runs` and `thinkMs` are the benchmark's settings it quotes. */
export function table(results, { runs, thinkMs }) {
  const { webgpu: g, files, machine } = results;
  return [
    `Machine: ${machine.cpu}, ${machine.cores} cores; ${machine.chromium}, headless. Command: \`make bench\``,
    `(runs \`bench/browser.mjs\`). Medians of ${runs} runs after a warm-up; ratios from the same run.`,
    ...(results.measured ? [`Parts measured: ${Object.entries(results.measured).map(([part, date]) => `${part} ${date?.slice(0, 16) ?? '–'}`).join(', ')} (UTC).`] : []),
    'TF.js runs on the page; secnn is measured both on the page (like for like) and through its',
    'module (`www/secnn/secnn.js`), which runs it in a worker: what an embedding page gets. Fine-tuning goes',
    'through the module. Neither uses threads (the page is not cross-origin isolated); both use wasm',
    'SIMD. Every classification reads its result back into JavaScript.',
    '',
    ...comparisonRows(results),
    '',
    ...noteRows(results),
    ...startupRows(results.startup, thinkMs),
    ...loadRows(results.throttled),
    ...moduleRows(results.modules),
    ...threadRows(results.threads),
    '| file | bytes | gzipped (Node zlib, level 9) | brotli (as served) |',
    '|---|---|---|---|',
    ...files.map((f) => `| \`${f.path}\` | ${fmt(f.bytes)} | ${fmt(f.gzipped)} | ${fmt(f.brotli)} |`),
    '',
    `WebGPU in this headless Chromium is SwiftShader, a **software** adapter (reported as "${g?.backend?.adapter ?? 'not available'}"):`,
    `batch-1 ${fmt(g?.latency?.medianMs, 1)} ms, full fine-tuning ${fmt(g?.full?.imagesPerSecond, 1)} images/s (batch 16).`,
    'These show the WebGPU path works end to end; they say nothing about speed on a real GPU.',
  ].join('\n');
}
