// secnn — a Squeeze-and-Excitation CNN in the browser (WebGPU, or the CPU as a fallback).
//
//   import { SeCnn } from './www/secnn.js';
//   const model = await SeCnn.create();                 // shipped CIFAR-10 weights, backend 'auto'
//   const { top } = await model.classify(imageElement); // [{ label, probability, index }, …]
//
// The model runs in a Web Worker (secnn-worker.js); every method returns a promise.
// Every file the module loads is named by a literal URL next to this one, so bundlers (Vite,
// webpack, Rollup) emit them; `create({ assetsUrl, workerUrl, wasm, weights })` moves them
// (`resolveAssets` below is the one place those overrides are read).
// Images may be an ImageData, ImageBitmap, <img>, <canvas>, <video>, OffscreenCanvas, or a
// File/Blob/ArrayBuffer/Uint8Array holding an encoded image (decoded by the same Rust code as
// the CLI).

import { checkClasses, checkImage, checkLabel, checkOptions, checkWeights } from './secnn-args.js';
import { HERE, isCrossOrigin, resolveAssets, startableUrl } from './secnn-assets.js';
import { bytesOf, pixelsOf, readPixels } from './secnn-images.js';
import { ERROR_CODES, codedError, errorFromMessage, threadsRefusal } from './secnn-protocol.js';

export { ERROR_CODES } from './secnn-protocol.js';


/** Raised when the worker's wasm instance crashed (code 'runtime-lost'); call `recreate()` to continue. */
export class RuntimeLostError extends Error {
  code = ERROR_CODES.runtimeLost;
}


/** The runtime's worker: `url` when overridden, else the literal URL bundlers follow. */
function newWorker(url) {
  if (url) return new Worker(startableUrl(url), { type: 'module' });
  if (isCrossOrigin(HERE)) return new Worker(startableUrl(new URL('secnn-worker.js', HERE).href), { type: 'module' });
  return new Worker(new URL('./secnn-worker.js', import.meta.url), { type: 'module' });
}

/** A fresh worker whose messages (and crash) go to `owner`. */
function startWorker(owner, url) {
  const worker = newWorker(url);
  worker.onmessage = ({ data }) => owner(data, worker);
  worker.onerror = (event) => {
    event.preventDefault?.();
    owner({ crashed: `the model worker failed: ${event.message || 'unknown error'}` }, worker);
  };
  return worker;
}

/** `weights` as the worker takes them, once a promise of them settled (checked again then). */
async function settledWeights(weights, call) {
  if (!(weights instanceof Promise)) return bytesOf(weights);
  const value = await weights;
  checkWeights(call, value);
  return bytesOf(value);
}

/** The threaded module's pool starts after the first classification, or this long after `create`. */
const POOL_DELAY_MS = 2000;

/** Batch-1 classifications timed on each backend before 'auto' picks where to classify (the first two warm up). */
const PROBE_RUNS = 7;

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The CPU build a page runs: the threaded one where it can run (`threadsRefusal`) and there is
 * more than one core, else the single-threaded one.
 */
const cpuBuild = () => ((globalThis.navigator?.hardwareConcurrency ?? 1) > 1 && !threadsRefusal() ? 'threads' : 'cpu');

/**
 * The model, running in a Web Worker. With `backend: 'auto'` it starts at once on the small
 * CPU-only module (threaded where the page is cross-origin isolated) and, when the browser
 * grants a WebGPU adapter, loads the WebGPU module in the background and switches to it between calls (never during a fine-tune), carrying the
 * current weights and collected examples across. Before switching it times one-image
 * classification on both: where the CPU is faster (an integrated or software GPU, or a fast
 * GPU whose per-call overhead dominates one image), the CPU worker stays and keeps classifying,
 * and WebGPU is kept for fine-tuning (`backend.classifier === 'cpu'`). Listen for
 * `backendchange` events (or read `backend`) to follow the switch.
 */
export class SeCnn extends EventTarget {
  #worker = null;
  #pending = new Map(); // id -> { resolve, reject, onProgress, worker }
  #nextId = 1;
  /** Where the worker, the three `.wasm` files and the default weights come from (`resolveAssets`). */
  #assets;
  /** Resolves when a backend switch in progress lets calls through again. */
  #gate = Promise.resolve();
  /** The fine-tuning run in progress (a switch waits for it), or null. */
  #fineTuning = null;
  #generation = 0;
  /** The CPU worker that classifies when it measured faster than WebGPU, or null. */
  #classifier = null;
  #probe = true;
  /** Resolves the wait of the threaded module's pool after the first classification, or null. */
  #predicted = null;
  /** The generation whose WebGPU switch waits for a sign of intent (`webgpu: 'on-demand'`), or null. */
  #deferredSwitch = null;
  /**
   * `{ backend: 'webgpu' | 'cpu', adapter, fallbackReason, threads, module, loading, onDemand, classifier, probe }`:
   * `threads` is the CPU work's thread count (the threaded module's pool, else 1); `module` the
   * build running ('cpu', 'threads' or 'webgpu'); `loading` is 'webgpu' while the WebGPU module
   * loads in the background; `onDemand` is 'webgpu' while it waits for a sign of intent (`create({ webgpu: 'on-demand' })`); `classifier` is 'cpu'
   * when one image classifies faster on the CPU (then `classify`/`explain` run there and
   * fine-tuning on WebGPU); `probe` holds the timings behind that choice, `{ webgpuMs, cpuMs }`.
   */
  backend = null;
  /** The loaded model's description: `{ name, description, classes, widths, accuracy, accuracyOn, … }` */
  info = null;
  /**
   * What callers must not hard-code, from the runtime: `{ inputSize, blockWidths, minClasses,
   * maxClasses, datasetClasses }`.
   */
  facts = null;

  /** Use `SeCnn.create()`; `assets` are the file overrides it takes (see `create`). */
  constructor(assets = {}) {
    super();
    this.#assets = resolveAssets(assets);
  }

  /**
   * Starts a worker, opens the backend and loads weights.
   * `module` picks the build by hand ('webgpu': the full one, also for the CPU backend;
   * 'threads': the threaded CPU one, which falls back to 'cpu' where the page is not
   * cross-origin isolated); by default it follows `backend`, and the CPU build is the threaded
   * one on isolated pages. `probe: false` makes 'auto' classify on WebGPU without timing it.
   * Files (only for setups that move them; bundlers need none of these):
   * - `assetsUrl`: a folder URL holding the package's files (secnn-worker.js, pkg-cpu/,
   *   pkg-threads/, pkg/, model/), e.g. a CDN path; a worker on another origin starts through a
   *   blob stub (the threaded build's helper workers cannot: it then runs single-threaded).
   * - `workerUrl`: secnn-worker.js elsewhere.
   * - `wasm: { cpu, threads, webgpu }`: each build's `secnn_bg.wasm`, as a URL (best: the worker
   *   downloads and compiles it off the page's thread while it streams), its bytes or its
   *   WebAssembly.Module (`pkg-cpu/`, or `pkg-threads/` on isolated pages, runs first for
   *   'auto' and 'cpu').
   * - `weights`: a URL, Blob or bytes of a burnpack (default: the shipped CIFAR-10 model).
   * Each of `wasm.cpu`, `wasm.threads`, `wasm.webgpu` and `weights` may also be a promise of
   * one: the worker starts and imports its bindings while it settles (a page that waits before downloading gains that time).
   * @param {{backend?: 'auto'|'webgpu'|'cpu', weights?: string|URL|Blob|ArrayBuffer|Uint8Array|Promise<…>,
   *   assetsUrl?: string|URL, workerUrl?: string|URL,
   *   wasm?: { cpu?: string|URL|ArrayBuffer|Uint8Array|WebAssembly.Module|Promise<…>, threads?: (the same), webgpu?: (the same) },
   *   module?: 'cpu'|'threads'|'webgpu', probe?: boolean, webgpu?: 'eager'|'on-demand'}} options
   * `webgpu: 'on-demand'` (with 'auto'): the WebGPU module (2.9 MB) is only fetched on a sign that
   * it can pay off — `addExample`, `addCifarBatch`, `fineTune` or `loadWebGpu()` — so a visitor
   * who only classifies downloads the small CPU module alone; 'eager' (default) fetches it at once.
   */
  static async create(options = {}) {
    checkOptions('create', options);
    if (options.weights !== undefined) checkWeights('create', options.weights, { promise: true });
    const { backend = 'auto', weights, assetsUrl, workerUrl, wasm, module, probe = true, webgpu = 'eager' } = options;
    const model = new SeCnn({ assetsUrl, workerUrl, wasm, weights });
    await model.recreate({ backend, module, probe, webgpu });
    return model;
  }

  /**
   * (Re)starts the worker — e.g. on the CPU after the GPU was lost — keeping nothing but the
   * weights given (by default those `create` was given).
   */
  async recreate(options = {}) {
    checkOptions('recreate', options);
    if (options.weights !== undefined) checkWeights('recreate', options.weights, { promise: true });
    const { backend = 'auto', weights = this.#assets.weights, module, probe = true, webgpu = 'eager' } = options;
    const generation = ++this.#generation; // a switch started before this is abandoned
    this.#deferredSwitch = null;
    this.#probe = probe;
    this.#dropClassifier();
    this.#worker?.terminate();
    this.#failAll(new RuntimeLostError('the runtime was restarted'));
    this.#worker = startWorker((data, worker) => this.#receive(data, worker), this.#assets.worker);
    const build = module ?? (backend === 'webgpu' ? 'webgpu' : cpuBuild());
    // The worker imports its bindings at once, and downloads and compiles the runtime (off the
    // page's thread) as soon as its wasm is known, while the weights (maybe a promise) download.
    const worker = this.#worker;
    this.#callOn(worker, 'prepare', { module: build }).catch(() => {});
    // The threaded build falls back to the single-threaded one's wasm where it cannot start.
    const fallback = build === 'threads' ? this.#assets.wasm.cpu : undefined;
    const loading = Promise.all([this.#assets.wasm[build], fallback]).then(([wasm, fallbackWasm]) => {
      // A worker replaced meanwhile would never answer.
      if (generation !== this.#generation) throw new RuntimeLostError('the runtime was restarted');
      return this.#callOn(worker, 'prepare', { module: build, load: true, wasm, fallbackWasm });
    });
    const [weightBytes] = await Promise.all([settledWeights(weights, options.weights === undefined ? 'create' : 'recreate'), loading]);
    if (generation !== this.#generation) throw new RuntimeLostError('the runtime was restarted');
    // On a CPU-only build, 'auto' opens the CPU at once and the switch below adds WebGPU.
    const cpuOnly = build !== 'webgpu';
    const opened = await this.#call('create', { backend: cpuOnly ? 'cpu' : backend, module: build, weights: weightBytes });
    this.info = opened.info;
    this.facts = opened.facts;
    if (opened.backend.module === 'threads') this.#startThreads(worker);
    if (backend === 'auto' && cpuOnly) {
      const hasWebGpu = typeof navigator !== 'undefined' && Boolean(navigator.gpu);
      const now = hasWebGpu && webgpu !== 'on-demand';
      this.#setBackend({ ...opened.backend, loading: now ? 'webgpu' : null, onDemand: hasWebGpu && !now ? 'webgpu' : null,
        classifier: null, probe: null, fallbackReason: hasWebGpu ? null : 'this browser has no WebGPU (navigator.gpu)' });
      if (now) this.#switchToWebGpu(generation);
      else if (hasWebGpu) this.#deferredSwitch = generation;
    } else {
      this.#setBackend({ ...opened.backend, loading: null, onDemand: null, classifier: null, probe: null });
    }
    return this;
  }

  /**
   * Starts loading the WebGPU module now, where `create({ webgpu: 'on-demand' })` deferred it
   * (the fine-tuning calls do this themselves); does nothing otherwise.
   */
  loadWebGpu() {
    if (this.#deferredSwitch === null || this.#deferredSwitch !== this.#generation) return;
    this.#deferredSwitch = null;
    this.#setBackend({ ...this.backend, loading: 'webgpu', onDemand: null });
    this.#switchToWebGpu(this.#generation);
  }

  /**
   * Starts the threaded module's pool behind the first calls (they run on one thread until it
   * is up): after the first classification, or POOL_DELAY_MS, whichever comes first, so that
   * starting its workers does not compete with the first prediction for the cores. A
   * `backendchange` then carries the new `threads`.
   */
  async #startThreads(worker) {
    await new Promise((resolve) => {
      this.#predicted = resolve;
      setTimeout(resolve, POOL_DELAY_MS);
    });
    this.#predicted = null;
    try {
      const { adapter, threads } = await this.#callOn(worker, 'startThreads');
      if (worker === this.#worker && this.backend?.module === 'threads') this.#setBackend({ ...this.backend, adapter, threads });
    } catch (error) {
      if (worker === this.#worker) console.warn(`secnn: the thread pool did not start (${error?.message ?? error}); the CPU module runs on one thread`);
    }
  }

  #dropClassifier() {
    this.#classifier?.terminate();
    if (this.#classifier) this.#failAll(codedError('the CPU classifier was stopped', ERROR_CODES.runtimeLost), this.#classifier);
    this.#classifier = null;
  }

  /** Median milliseconds of a one-image classification on `worker`, as the runtime times it. */
  async #batchOneMilliseconds(worker) {
    const times = [];
    for (let run = 0; run < PROBE_RUNS; run++) {
      const side = this.facts.inputSize; // an image the model takes as it is, so only the model is timed
      const rgba = new Uint8Array(side * side * 4).fill(128);
      const { milliseconds } = await this.#callOn(worker, 'classify', { rgba, width: side, height: side, topK: 1, tta: false });
      if (run >= 2) times.push(milliseconds);
    }
    return median(times);
  }

  #setBackend(backend) {
    this.backend = backend;
    this.dispatchEvent(new CustomEvent('backendchange', { detail: backend }));
  }

  /** Loads the WebGPU module beside the running one, then switches between calls. */
  async #switchToWebGpu(generation) {
    const next = startWorker((data, worker) => this.#receive(data, worker), this.#assets.worker);
    try {
      if (!(await navigator.gpu.requestAdapter())) throw new Error('the browser granted no WebGPU adapter');
      const weights = await this.exportWeights();
      const opened = await this.#callOn(next, 'create', { backend: 'webgpu', module: 'webgpu', weights, wasm: await this.#assets.wasm.webgpu });
      await this.#callOn(next, 'ready'); // shaders compiled by the warm-up
      const probe = this.#probe
        ? { webgpuMs: await this.#batchOneMilliseconds(next), cpuMs: await this.#batchOneMilliseconds(this.#worker) }
        : null;
      while (this.#fineTuning) await this.#fineTuning.catch(() => {});
      if (generation !== this.#generation) throw new Error('the runtime was restarted');
      let open;
      this.#gate = new Promise((resolve) => { open = resolve; });
      try {
        // Between calls: the old worker finishes what it has, then hands over its state.
        const old = this.#worker;
        while ([...this.#pending.values()].some((call) => call.worker === old)) {
          await Promise.allSettled([...this.#pending.values()].filter((c) => c.worker === old).map((c) => c.promise));
        }
        const [current, examples] = await Promise.all([this.#callOn(old, 'exportWeights'), this.#callOn(old, 'exportExamples')]);
        const info = await this.#callOn(next, 'loadWeights', { weights: current });
        if (examples.length) await this.#callOn(next, 'addCifarBatch', { bytes: examples, name: 'examples' });
        this.#worker = next;
        if (probe && probe.cpuMs < probe.webgpuMs) {
          this.#classifier = old; // keeps the same weights; its examples now live in `next`
          await this.#callOn(old, 'clearExamples');
        } else {
          old.terminate();
        }
        this.info = info;
        this.#setBackend({ ...opened.backend, loading: null, classifier: this.#classifier ? 'cpu' : null, probe });
      } finally {
        open();
      }
    } catch (error) {
      next.terminate();
      if (generation === this.#generation) {
        this.#setBackend({ ...this.backend, loading: null, fallbackReason: `WebGPU: ${error.message}` });
      }
    }
  }

  #failAll(error, worker = null) {
    for (const [id, call] of this.#pending) {
      if (worker && call.worker !== worker) continue;
      call.reject(error);
      this.#pending.delete(id);
    }
  }

  #receive({ id, result, error, fatal, progress, crashed }, worker) {
    if ((crashed || fatal) && worker === this.#classifier) {
      // The CPU classifier is a convenience: without it, the main worker classifies.
      this.#pending.get(id)?.reject(codedError(crashed ?? error.message, ERROR_CODES.runtimeLost));
      this.#pending.delete(id);
      this.#dropClassifier();
      this.#setBackend({ ...this.backend, classifier: null });
      return;
    }
    if (crashed) {
      if (worker === this.#worker) this.#failAll(new RuntimeLostError(crashed), worker);
      else this.#failAll(codedError(crashed, ERROR_CODES.runtimeLost), worker);
      return;
    }
    const call = this.#pending.get(id);
    if (!call) return;
    if (progress !== undefined) {
      call.onProgress?.(progress);
      return;
    }
    this.#pending.delete(id);
    if (error === undefined) {
      call.resolve(result);
    } else if (fatal && worker === this.#worker) {
      this.#worker?.terminate();
      this.#worker = null;
      this.#failAll(new RuntimeLostError(error.message));
      call.reject(new RuntimeLostError(`${error.message} — the model runtime crashed; call recreate() to continue`));
    } else {
      call.reject(errorFromMessage(error)); // keeps its code, and TypeError / RangeError their class
    }
  }

  /** What the argument rules need to know of the loaded model. */
  #context() {
    return { classes: this.info?.classes.length, ...this.facts };
  }

  /** A call on the current worker, once no backend switch holds the gate. */
  async #call(method, args, options) {
    await this.#gate;
    if (!this.#worker) throw new RuntimeLostError('no runtime: call recreate()');
    return this.#callOn(this.#worker, method, args, options);
  }

  /** A classification: on the CPU classifier where it measured faster, else the current worker. */
  async #classifyCall(method, args, options) {
    await this.#gate;
    try {
      if (this.#classifier) return await this.#callOn(this.#classifier, method, args, options);
      return await this.#call(method, args, options);
    } finally {
      this.#predicted?.();
    }
  }

  /** Gives the CPU classifier the current worker's weights (after they changed there). */
  async #syncClassifier() {
    const classifier = this.#classifier;
    if (!classifier) return;
    const weights = await this.#call('exportWeights');
    if (classifier === this.#classifier) await this.#callOn(classifier, 'loadWeights', { weights });
  }

  #callOn(worker, method, args, { onProgress, transfer = [] } = {}) {
    const id = this.#nextId++;
    let settle;
    const promise = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    this.#pending.set(id, { ...settle, onProgress, worker, promise });
    worker.postMessage({ id, method, args }, transfer);
    return promise;
  }

  #pixels(image) {
    return readPixels(image, (method, args) => this.#call(method, args));
  }

  /**
   * Top-k classes: `{ top: [{index, label, probability}], inputRgba (what the model saw: `facts.inputSize` pixels square), milliseconds }`.
   * `tta` averages the image's logits with its mirror image's (test-time flip averaging).
   */
  async classify(image, options = {}) {
    checkImage('classify', image);
    checkOptions('classify', options, this.#context());
    const { topK = 5, tta = false } = options;
    const { rgba, width, height } = await this.#pixels(image);
    return this.#classifyCall('classify', { rgba, width, height, topK, tta }, { transfer: [rgba.buffer] });
  }

  /**
   * Classification plus attention: `{ probabilities, top, blocks: [{ seWeights, mostAttended,
   * leastAttended }], gradcam: { class, label, size, values }, inputRgba, milliseconds }`.
   * `tta` averages the probabilities with the mirror image's; attention is the image's own.
   * `map: { block, channel }` (block from 1) adds that channel's feature map as `blocks[block - 1].requested`.
   */
  async explain(image, options = {}) {
    checkImage('explain', image);
    checkOptions('explain', options, this.#context());
    const { topK = 5, channels = 4, camClass = null, tta = false, map = null } = options;
    const { rgba, width, height } = await this.#pixels(image);
    return this.#classifyCall('explain', { rgba, width, height, topK, channels, camClass, tta, map }, { transfer: [rgba.buffer] });
  }

  /** Replaces the model (a burnpack, `.safetensors` or `.pth`: bytes, Blob or URL). The old one stays if this fails. */
  async loadWeights(weights) {
    checkWeights('loadWeights', weights);
    const bytes = await bytesOf(weights);
    this.info = await this.#call('loadWeights', { weights: bytes });
    if (this.#classifier) await this.#callOn(this.#classifier, 'loadWeights', { weights: bytes });
    return this.info;
  }

  /**
   * The current (possibly fine-tuned) weights as bytes: `format` 'burnpack' (default; secnn's
   * file, with its description) or 'safetensors' (for PyTorch: the seed's parameter names, f32,
   * the class names in the metadata; `loadWeights` reads it back).
   */
  exportWeights(options = {}) {
    checkOptions('exportWeights', options);
    return this.#call('exportWeights', options);
  }

  /**
   * Adds a labelled example for fine-tuning; returns the number of examples. `label` is a class
   * index: of the model's classes, or of the `classes` that `fineTune` will be given.
   */
  async addExample(image, label) {
    checkImage('addExample', image);
    checkLabel(label, this.facts?.maxClasses);
    this.loadWebGpu();
    const { rgba, width, height } = await this.#pixels(image);
    return this.#call('addExample', { rgba, width, height, label }, { transfer: [rgba.buffer] });
  }

  /** Adds every image of an official CIFAR-10 binary batch (data_batch_N.bin / test_batch.bin). */
  async addCifarBatch(file) {
    this.loadWebGpu();
    return this.#call('addCifarBatch', { bytes: await bytesOf(file), name: file.name ?? 'batch.bin' });
  }

  clearExamples() {
    return this.#call('clearExamples');
  }

  /**
   * Resolves when fine-tuning would accept `names` as custom classes (the runtime's rule:
   * `facts.minClasses` to `facts.maxClasses` distinct names, compared trimmed and
   * case-insensitively); rejects with code 'invalid-argument' and the reason otherwise.
   */
  async checkClassNames(names) {
    checkClasses(names);
    return this.#call('checkClassNames', { names: names ?? [] });
  }

  /**
   * For each of `names`, the index of the same class among `known` (default: the model's
   * classes) by the runtime's class-name rule, or null.
   */
  matchClasses(names, known = this.info.classes) {
    return this.#call('matchClasses', { names, known });
  }

  exampleCount() {
    return this.#call('exampleCount');
  }

  /**
   * Fine-tunes on the added examples. Returns a run with `pause()`, `resume()`, `cancel()`,
   * `finish()` and `done` (a promise of `{ status, info, kept }`: `kept` is `{ epoch, epochs,
   * accuracy }` when a validation set chose the weights, else null). The plan (`onPlan`) lists
   * `warnings` as data: `{ code: 'no-validation-images' }` or `{ code: 'few-validation-images',
   * images, pointsPerImage }`. A run that diverges rejects with code 'diverged' (`details:
   * { loss, epoch }`), the weights from before it restored.
   * With custom `classes`, a name the model knows keeps its trained row of the last layer and a
   * new one starts from its examples' mean features, so the plan's `startValidation` is already
   * better than chance; with a validation set the run keeps its best epoch (start included).
   * @param {{ classes?: string[], epochs?: number, batchSize?: number, learningRate?: number,
   *   optimizer?: 'adam'|'adamw'|'sgd', schedule?: 'plateau'|'onecycle'|'cosine'|'constant',
   *   freeze?: 'none'|'head'|'head-attention', augment?: boolean, validationSplit?: number,
   *   weightDecay?: number, dropout?: number, warmup?: number, labelSmoothing?: number, seed?: number,
   *   probe?: ImageData|HTMLImageElement|ImageBitmap|HTMLCanvasElement,
   *   onPlan?: Function, onStep?: Function, onEpoch?: Function, onPause?: Function }} options
   */
  fineTune(settings = {}) {
    checkOptions('fineTune', settings, this.#context());
    checkClasses(settings.classes);
    if (settings.probe !== undefined && settings.probe !== null) checkImage('fineTune', settings.probe);
    const { classes = null, probe = null, onPlan, onStep, onEpoch, onPause, ...options } = settings;
    const probePixels = probe ? pixelsOf(probe) : null;
    this.loadWebGpu();
    const onProgress = (progress) => {
      if (progress.type === 'plan') onPlan?.(progress.plan);
      else if (progress.type === 'paused') onPause?.();
      else if (progress.type === 'step') {
        onStep?.(progress.report);
        if (progress.report.epochEnd) onEpoch?.(progress.report.epochEnd);
      }
    };
    // The run ends (done, finished early or cancelled) with the CPU classifier in step.
    const done = this.#call('fineTune', { options, classes, probe: probePixels }, { onProgress }).then(async (result) => {
      this.info = result.info;
      await this.#syncClassifier();
      return result;
    });
    this.#fineTuning = done;
    done.finally(() => { if (this.#fineTuning === done) this.#fineTuning = null; }).catch(() => {});
    const control = (method) => this.#call(method);
    return {
      done,
      pause: () => control('pause'),
      resume: () => control('resume'),
      cancel: () => control('cancel'),
      finish: () => control('finish'),
    };
  }

  /** Stops the worker (and a WebGPU module still loading). */
  terminate() {
    this.#generation++;
    this.#dropClassifier();
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll(new RuntimeLostError('terminated'));
  }
}
