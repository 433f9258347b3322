// The worker that owns the wasm runtime, so model work never blocks the page.
// The messages are defined in secnn-protocol.js. This file only moves messages: every model
// rule and outcome is the Rust runtime's; it forwards what the runtime returns, queues calls
// (the runtime is not re-entrant) and lets pause / cancel in between fine-tuning steps.
// One of the three builds of the crate runs here: './pkg-cpu/' (CPU only, small),
// './pkg-threads/' (CPU only, on a pool of threads: pages that are cross-origin isolated) or
// './pkg/' (WebGPU and CPU); a worker loads one, once.

import { checkClasses, checkLabel, checkOptions } from './secnn-args.js';
import { CONTROLS, ERROR_CODES, FINE_TUNE_STATUS, PROGRESS, codedError, errorToMessage, threadsRefusal } from './secnn-protocol.js';

/**
 * The three builds, each named by literal URLs so that bundlers (Vite, webpack, Rollup) find,
 * emit and rename their files; a build is only fetched when a worker asks for it.
 * `wasm` (the page's override: a URL, the bytes or a compiled WebAssembly.Module) replaces the build's own `.wasm` URL.
 */
const BUILDS = {
  cpu: { glue: () => import('./pkg-cpu/secnn.js'), wasm: () => new URL('./pkg-cpu/secnn_bg.wasm', import.meta.url) },
  threads: { glue: () => import('./pkg-threads/secnn.js'), wasm: () => new URL('./pkg-threads/secnn_bg.wasm', import.meta.url) },
  webgpu: { glue: () => import('./pkg/secnn.js'), wasm: () => new URL('./pkg/secnn_bg.wasm', import.meta.url) },
};
const glues = {}; // build -> the promise of its JS bindings, imported once

/**
 * The ONNX writer (the secnn-onnx crate), apart from the builds like the archive module below:
 * only a page that exports ONNX needs it.
 */
let onnxModule = null;
const loadOnnx = () => (onnxModule ??= import('./pkg-onnx/secnn_onnx.js').then(async (glue) => {
  await glue.default({ module_or_path: new URL('./pkg-onnx/secnn_onnx_bg.wasm', import.meta.url) });
  return glue;
}));

/**
 * The archive module (project files and zips, the secnn-archive crate), apart from the builds:
 * the zip library would add a tenth to the module every page starts on, and only a page that
 * saves or opens a project needs it. Loaded on first use, by literal URLs bundlers follow.
 */
let archiveModule = null;
const loadArchive = () => (archiveModule ??= import('./pkg-archive/secnn_archive.js').then(async (glue) => {
  await glue.default({ module_or_path: new URL('./pkg-archive/secnn_archive_bg.wasm', import.meta.url) });
  return glue;
}));
const importGlue = (module) => (glues[module] ??= BUILDS[module].glue());

/**
 * The threaded build's pool: one thread per logical core, at most 8 (the model's layers split
 * no further, and each thread holds its own stack).
 */
const POOL_THREADS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

async function loadBuild(module, wasm) {
  const glue = await importGlue(module);
  await glue.default({ module_or_path: wasm ?? BUILDS[module].wasm() });
  return glue;
}

/**
 * `module`, or where the threaded build cannot work here (no shared memory: the page is not
 * cross-origin isolated; its pool's workers refused: its files on another origin), the
 * single-threaded CPU build. The threaded build's pool starts
 * later (`startThreads`), behind the first calls.
 */
async function loadWithFallback(module, wasm, fallbackWasm) {
  if (module !== 'threads') return { module, glue: await loadBuild(module, wasm) };
  try {
    const refusal = threadsRefusal();
    if (refusal) throw new Error(refusal);
    // Its pool's workers (secnn-pool-worker.js, started by the page) import its glue from
    // beside this file, and a worker only starts from its own origin.
    if (BUILDS.threads.wasm().origin !== self.location.origin) throw new Error('its files are on another origin (a CDN)');
    return { module, glue: await loadBuild(module, wasm) };
  } catch (error) {
    console.warn(`secnn: the threaded CPU module could not start (${error?.message ?? error}); using the single-threaded one`);
    return { module: 'cpu', glue: await loadBuild('cpu', fallbackWasm) };
  }
}

let bindings = null; // the module's JS bindings: { default: init, Runtime }
let loadedModule = null; // the build running: 'cpu', 'threads' or 'webgpu'
let runtime = null;
let ready = null;
/** Loads the build once (the first `prepare` with `load`, or `create`, names its wasm). */
const startLoading = (module, wasm, fallbackWasm) => (ready ??= loadWithFallback(module, wasm, fallbackWasm).then((loaded) => { bindings = loaded.glue; loadedModule = loaded.module; }));
// The runtime is not re-entrant: an async call (a WebGPU read) holds it across its awaits, and
// a second call meanwhile fails ("recursive use of an object"). So every call into it queues
// here, one at a time. Fine-tuning queues each step, so classifying while it trains works.
let queue = Promise.resolve();
let poolBuilt = false; // the threaded build's pool: built once
function exclusive(call) {
  const result = queue.then(call);
  queue = result.catch(() => {});
  return result;
}
// Fine-tuning control, checked between steps.
let run = null; // { id, paused, cancelled, finishing, resume }

/** What the argument rules need to know of the loaded model (its facts come from the runtime). */
let facts = null;
const context = () => ({ classes: runtime.info().classes.length, ...facts });

// Lets queued messages (pause, cancel) in between fine-tuning calls. Not setTimeout(0): in a loop
// the browser clamps it to 4 ms after five nested calls, 4 % of every ~100 ms call with both
// cores idle (bench/browser-profile.sh). A message to this worker's own channel is not clamped,
// and it is a task, so the page's messages get their turn between calls.
const yieldChannel = new MessageChannel();
const yielded = [];
yieldChannel.port1.onmessage = () => yielded.shift()();
const yieldToEvents = () => new Promise((resolve) => {
  yielded.push(resolve);
  yieldChannel.port2.postMessage(null);
});

async function fetchBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const response = await fetch(source);
  if (!response.ok) throw codedError(`could not load weights from ${source}: HTTP ${response.status}`, ERROR_CODES.fetchFailed);
  return new Uint8Array(await response.arrayBuffer());
}

const methods = {
  /**
   * Imports a build's bindings ahead of `create`; with `load`, also downloads and compiles its
   * wasm (the build's own, or `wasm`) while the weights still download. A failure is reported by `create`.
   */
  prepare({ module, load = false, wasm, fallbackWasm }) {
    if (!BUILDS[module]) throw codedError(`unknown module ${module}: use cpu, threads or webgpu`, ERROR_CODES.invalidArgument);
    if (load) startLoading(module, wasm, fallbackWasm).catch(() => {});
    else importGlue(module).catch(() => {});
    return null;
  },
  async create({ backend, weights, wasm, fallbackWasm, module = 'webgpu' }) {
    if (!BUILDS[module]) throw codedError(`unknown module ${module}: use cpu, threads or webgpu`, ERROR_CODES.invalidArgument);
    // `wasm`: an absolute URL, or the bytes or compiled module when the page downloaded it itself.
    await startLoading(module, wasm, fallbackWasm);
    const bytes = await fetchBytes(weights);
    runtime?.free();
    runtime = null;
    runtime = await bindings.Runtime.create(backend, bytes);
    facts = runtime.facts();
    // Compile the shaders now rather than at the user's first image; queued after the reply
    // is posted (the first kernel launches compile synchronously).
    exclusive(() => yieldToEvents().then(() => runtime.warm_up()))
      .catch((error) => console.warn('secnn warm-up failed:', error?.message ?? error));
    return { backend: { ...runtime.backend(), module: loadedModule }, info: runtime.info(), facts };
  },
  /**
   * The threaded build's pool, for the page to start its workers (secnn-pool-worker.js) on this
   * instance's compiled module and shared memory: `{ module, memory, threads }`; null on another
   * build. The page starts them, not this worker (why: kernels/src/pool_threads.rs).
   */
  poolParts() {
    if (loadedModule !== 'threads') return null;
    const [module, memory] = bindings.pool_parts();
    return { module, memory, threads: POOL_THREADS };
  },
  /**
   * Builds the threaded build's pool on the `threads` workers the page started (each waits for
   * its share; this returns once each runs it), once. Until then the CPU work stays on this
   * thread (the page asks after the first calls). Resolves with the backend (its `threads`).
   */
  startThreads({ threads }) {
    if (loadedModule === 'threads' && !poolBuilt) {
      poolBuilt = true; // rayon's global pool is built once, even where building it failed
      bindings.build_pool(threads);
    }
    return exclusive(() => methods.backend());
  },
  info: () => runtime.info(),
  facts: () => facts,
  backend: () => ({ ...runtime.backend(), module: loadedModule }),
  loadWeights: async ({ weights }) => {
    const info = runtime.load_weights(await fetchBytes(weights));
    facts = runtime.facts(); // another member of the family: its own input size and widths
    return info;
  },
  exportWeights: async ({ format = 'burnpack' } = {}) => {
    checkOptions('exportWeights', { format });
    // ONNX is written by its own module, loaded on first use, from the PyTorch-named tensors.
    const bytes = format === 'onnx'
      ? (await loadOnnx()).toOnnx(await runtime.export_weights('safetensors'), JSON.stringify(facts.inputRule))
      : await runtime.export_weights(format);
    return { result: bytes, transfer: [bytes.buffer] };
  },
  // Resolves once every earlier call, the warm-up included, has run.
  ready: () => true,
  imageSize: ({ bytes }) => bindings.Runtime.image_size(bytes),
  decode: ({ bytes }) => bindings.Runtime.decode(bytes),
  checkClassNames: ({ names }) => {
    checkClasses(names);
    return bindings.Runtime.check_class_names(names);
  },
  matchClasses: ({ names, known }) => bindings.Runtime.match_classes(names, known),
  // The same argument rules as secnn.js, for callers that post to this worker directly.
  classify: ({ rgba, width, height, topK = 5, tta = false }) => {
    checkOptions('classify', { topK, tta }, context());
    return runtime.classify(rgba, width, height, topK, tta);
  },
  explain: ({ rgba, width, height, topK = 5, channels = 4, camClass = null, tta = false, map = null }) => {
    checkOptions('explain', { topK, channels, camClass, tta, map }, context());
    return runtime.explain(rgba, width, height, { topK, channels, camClass, tta, map });
  },
  /**
   * Milliseconds of `steps` training steps on `batch` images of random pixels (the heaviest
   * fine-tune, on a copy of the model): what 'auto' compares before choosing where to fine-tune.
   */
  timeTraining: async ({ batch, steps }) => {
    const started = performance.now();
    await runtime.train_on_noise(batch, steps);
    return { milliseconds: performance.now() - started, images: batch * steps };
  },
  clearExamples: () => runtime.clear_examples(),
  exampleClasses: () => runtime.example_classes(),
  addExample: ({ rgba, width, height, label }) => {
    checkLabel(label, facts.maxClasses);
    return runtime.add_example(rgba, width, height, label);
  },
  addCifarBatch: ({ bytes, name }) => runtime.add_cifar_batch(bytes, name),
  exampleCount: () => runtime.example_count(),
  exportExamples: () => {
    const bytes = runtime.export_examples();
    return { result: bytes, transfer: [bytes.buffer] };
  },
  /** What the running fine-tune would keep now: `{ weights, kept }` (the page stores it after every epoch). */
  exportKeptWeights: async () => {
    const result = await runtime.export_kept_weights();
    return { result, transfer: [result.weights.buffer] };
  },
  /** A zip: a project the page saved, or class folders (the archive module's rules refuse bad ones by name). */
  readArchive: async ({ bytes }) => (await loadArchive()).readArchive(bytes),
  writeProject: async ({ project, classes, weights }) => {
    const bytes = (await loadArchive()).writeProject(JSON.stringify(project), classes, weights ?? undefined);
    return { result: bytes, transfer: [bytes.buffer] };
  },
  async fineTune({ options, classes, probe }, id) {
    checkOptions('fineTune', options ?? undefined, context());
    const plan = await exclusive(() => runtime.start_fine_tune(
      options ?? null,
      classes ?? undefined,
      probe?.rgba ?? new Uint8Array(),
      probe?.width ?? 0,
      probe?.height ?? 0,
    ));
    postMessage({ id, progress: { type: PROGRESS.plan, plan } });
    run = { id, paused: false, cancelled: false, finishing: false, resume: null };
    try {
      for (;;) {
        await yieldToEvents(); // lets pause / cancel messages in
        if (run.cancelled) {
          return { status: FINE_TUNE_STATUS.cancelled, ...(await exclusive(() => runtime.cancel_fine_tune())) };
        }
        if (run.finishing) {
          return { status: FINE_TUNE_STATUS.finishedEarly, ...(await exclusive(() => runtime.finish_fine_tune())) };
        }
        if (run.paused) {
          postMessage({ id, progress: { type: PROGRESS.paused } });
          await new Promise((resolve) => { run.resume = resolve; });
          continue;
        }
        // One step on the CPU, a few on WebGPU (read back together), one message each. The
        // last step's report goes out before the run closes (closing measures the SE profiles).
        const reports = await exclusive(() => runtime.fine_tune_steps());
        for (const report of reports) postMessage({ id, progress: { type: PROGRESS.step, report } });
        if (reports.at(-1)?.done) {
          return { status: FINE_TUNE_STATUS.done, ...(await exclusive(() => runtime.finish_fine_tune())) };
        }
      }
    } finally {
      run = null;
    }
  },
};

// Control messages act on the running fine-tune without waiting for it.
const controls = {
  pause() { if (run) run.paused = true; },
  resume() { if (run) { run.paused = false; run.resume?.(); run.resume = null; } },
  cancel() { if (run) { run.cancelled = true; run.paused = false; run.resume?.(); } },
  finish() { if (run) { run.finishing = true; run.paused = false; run.resume?.(); } },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  if (CONTROLS.includes(method)) {
    controls[method]();
    postMessage({ id, result: null });
    return;
  }
  try {
    if (!methods[method]) throw codedError(`unknown method ${method}`, ERROR_CODES.invalidArgument);
    if (method !== 'create' && method !== 'prepare' && !runtime) throw codedError('the model is not loaded yet', ERROR_CODES.busy);
    // fineTune queues its own calls step by step, the pool's start runs beside them; everything
    // else is one queued call.
    const call = () => methods[method](args ?? {}, id);
    const value = await (['fineTune', 'poolParts', 'startThreads'].includes(method) ? call() : exclusive(call));
    if (value && value.transfer) postMessage({ id, result: value.result }, value.transfer);
    else postMessage({ id, result: value });
  } catch (error) {
    // A trap (a Rust panic) leaves the wasm instance unusable: tell the page to start a new worker.
    const fatal = error instanceof WebAssembly.RuntimeError;
    if (fatal) runtime = null;
    postMessage({ id, error: errorToMessage(fatal ? codedError(error.message, ERROR_CODES.runtimeLost) : error), fatal });
  }
};
