// secnn's side of the browser benchmark: the public module (www/secnn/secnn.js) exactly as an
// embedding page uses it, so every figure includes the worker round trip a user pays.
import { SeCnn } from '../../www/secnn/secnn.js';
// The builds of the runtime, for the on-page (no worker) measurements.
const MODULES = { cpu: '../../www/secnn/pkg-cpu/secnn.js', threads: '../../www/secnn/pkg-threads/secnn.js', webgpu: '../../www/secnn/pkg/secnn.js' };

const SHIPPED_WEIGHTS = new URL('../../www/secnn/model/secnn-cifar10.bpk', import.meta.url).href;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Deterministic noise images (a fixed LCG), so every run and backend sees the same pixels. */
function noiseImages(count, side = 32, seed = 1) {
  let state = seed >>> 0;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24;
  return Array.from({ length: count }, () => {
    const image = new ImageData(side, side);
    for (let i = 0; i < image.data.length; i += 4) {
      image.data[i] = next();
      image.data[i + 1] = next();
      image.data[i + 2] = next();
      image.data[i + 3] = 255;
    }
    return image;
  });
}

let model = null;
const pageRuntimes = {};

/**
 * Opens the module on `backend` ('cpu' | 'webgpu') with the shipped weights; `module` ('cpu' |
 * 'threads' | 'webgpu') picks the build (by default for 'cpu' the CPU-only one, threaded where
 * the page is cross-origin isolated).
 */
export async function open(backend, module) {
  model?.terminate();
  const started = performance.now();
  model = await SeCnn.create({ backend, module });
  const openMs = performance.now() - started;
  // The threaded module's pool starts behind the first calls: measure once it runs.
  for (let i = 0; i < 300 && model.backend.module === 'threads' && model.backend.threads < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { backend: model.backend, openMs };
}

/**
 * Times `call` (awaited one after another): per run, the mean over `iterations` calls after
 * `warmup` untimed ones. Returns each run's mean in ms and the calls' results.
 */
async function timeCalls(call, { runs, iterations, warmup }) {
  for (let i = 0; i < warmup; i++) await call();
  const runsMs = [];
  const results = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    for (let i = 0; i < iterations; i++) results.push(await call());
    runsMs.push((performance.now() - started) / iterations);
  }
  return { medianMs: median(runsMs), runsMs, results };
}

/**
 * Batch-1 classification latency through the module: `classify(32x32 image)`.
 * `runtimeMedianMs` is the time the Rust runtime itself reports (no worker round trip).
 */
export async function inferenceLatency({ runs = 5, iterations = 50, warmup = 10 } = {}) {
  const [image] = noiseImages(1);
  const { medianMs, runsMs, results } = await timeCalls(() => model.classify(image), { runs, iterations, warmup });
  return { medianMs, runsMs, runtimeMedianMs: median(results.map((r) => r.milliseconds)) };
}

/**
 * The same batch-1 measurement with the wasm runtime instantiated on the page itself (no
 * worker), which is how the TF.js reference runs: the like-for-like comparison.
 */
export async function pageLatency({ runs = 5, iterations = 50, warmup = 10, module = 'webgpu' } = {}) {
  if (!pageRuntimes[module]) {
    const bindings = await import(MODULES[module]);
    await bindings.default();
    // No pool for the threaded build here: a page's main thread may not block (Atomics.wait is
    // refused there), so secnn builds the pool only in its model's worker; on the page the
    // threaded build runs on one thread.
    const weights = new Uint8Array(await (await fetch(SHIPPED_WEIGHTS)).arrayBuffer());
    pageRuntimes[module] = await bindings.Runtime.create('cpu', weights);
  }
  const runtime = pageRuntimes[module];
  const rgba = new Uint8Array(noiseImages(1)[0].data.buffer);
  const { medianMs, runsMs } = await timeCalls(() => runtime.classify(rgba, 32, 32, 5, false), { runs, iterations, warmup });
  return { medianMs, runsMs };
}

/**
 * Fine-tuning throughput: `images` noise images in 10 classes, `epochs` epochs with no
 * validation split. Epoch 1 is the warm-up (and, for a frozen body without augmentation, the
 * pass that caches features); images/s is the median over the later epochs, timed between
 * the step reports that end them.
 */
export async function fineTuneThroughput({ images = 256, epochs = 6, batchSize = 64, freeze = 'none', augment = false, timeLimitMs = 600_000 } = {}) {
  await model.clearExamples();
  const pictures = noiseImages(images, 32, 7);
  for (let i = 0; i < images; i++) await model.addExample(pictures[i], i % 10);
  const epochEnds = [performance.now()];
  let plan = null;
  let stoppedEarly = false;
  const started = performance.now();
  const run = model.fineTune({
    epochs, batchSize, freeze, augment, validationSplit: 0, optimizer: 'adam', learningRate: 1e-4, schedule: 'constant',
    onPlan: (p) => { plan = p; },
    onStep: (report) => {
      if (report.epochEnd) epochEnds.push(performance.now());
      if (!stoppedEarly && performance.now() - started > timeLimitMs && epochEnds.length >= 3) {
        stoppedEarly = true;
        run.finish();
      }
    },
  });
  await run.done;
  // The cancel-free "finish" keeps the fine-tuned weights; reload the shipped ones for the next measurement.
  await model.loadWeights(SHIPPED_WEIGHTS);
  const perEpoch = epochEnds.slice(1).map((t, i) => plan.trainImages / ((t - epochEnds[i]) / 1000));
  const measured = perEpoch.slice(1);
  return {
    imagesPerSecond: median(measured),
    firstEpochImagesPerSecond: perEpoch[0],
    epochsMeasured: measured.length,
    perEpoch,
    usesFeatureCache: plan.usesFeatureCache,
    trainImages: plan.trainImages,
    stoppedEarly,
    // performance.now() at the start and at each epoch's end (bench/browser-profile.mjs).
    epochEnds,
  };
}
