// secnn — a Squeeze-and-Excitation CNN in the browser (WebGPU, or the CPU as a fallback).
//
//   import { SeCnn } from './www/secnn.js';
//   const model = await SeCnn.create();                 // shipped CIFAR-10 weights, backend 'auto'
//   const { top } = await model.classify(imageElement); // [{ label, probability, index }, …]
//
// The model runs in a Web Worker (secnn-worker.js); every method returns a promise.
// Images may be an ImageData, ImageBitmap, <img>, <canvas>, <video>, OffscreenCanvas, or a
// File/Blob/ArrayBuffer/Uint8Array holding an encoded image (decoded by the same Rust code as
// the CLI).

const DEFAULT_WEIGHTS = new URL('./model/secnn-cifar10.bpk', import.meta.url).href;

/** Raised when the worker's wasm instance crashed; call `recreate()` to continue. */
export class RuntimeLostError extends Error {}

function isEncoded(image) {
  return image instanceof Blob || image instanceof ArrayBuffer || image instanceof Uint8Array;
}

async function bytesOf(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  return source; // a URL string: the worker fetches it
}

/** RGBA pixels of a drawable (or ImageData) at its natural size, or at `size` when given. */
function pixelsOf(image, size = null) {
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    return { rgba: new Uint8Array(image.data.buffer.slice(0)), width: image.width, height: image.height };
  }
  const width = size?.width || image.naturalWidth || image.videoWidth || image.width;
  const height = size?.height || image.naturalHeight || image.videoHeight || image.height;
  if (!width || !height) throw new Error('the image has no pixels (not loaded yet?)');
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(image, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height);
  return { rgba: new Uint8Array(data.data.buffer), width, height };
}

/** Photos above this many pixels are decoded by the browser (see `decodeLarge`). */
const BROWSER_DECODE_PIXELS = 16_000_000;
/** Short side, in pixels, that large photos and SVGs are drawn at before the resize rule. */
const PRESCALED_SIDE = 256;

/**
 * A large photo (a 48 MP phone picture): the browser's native decoder, with the file's EXIF
 * orientation, scales it while decoding so its short side is 256 px (8× the model's input),
 * far faster than decoding every pixel in wasm. The resize rule then runs in Rust as for any
 * image, so the CLI (which decodes the full photo) gives the same answer.
 */
async function decodeLarge(bytes, { width, height }) {
  const scale = PRESCALED_SIDE / Math.min(width, height);
  const size = { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
  const bitmap = await createImageBitmap(new Blob([bytes]), {
    imageOrientation: 'from-image', resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high',
  });
  try {
    return pixelsOf(bitmap);
  } finally {
    bitmap.close();
  }
}

/** Whether `bytes` hold an SVG document (which the Rust decoder does not read). */
function isSvg(bytes) {
  const head = new TextDecoder().decode(bytes.subarray(0, 1024));
  return /<svg[\s>]/i.test(head);
}

/** An SVG rasterised by the browser, like an <img> shows it (256 px on its short side when it has no size). */
async function rasteriseSvg(bytes) {
  if (typeof Image === 'undefined') throw new Error('SVG images can only be read on a page, not in a worker');
  const url = URL.createObjectURL(new Blob([bytes], { type: 'image/svg+xml' }));
  try {
    const image = new Image();
    image.src = url;
    await image.decode().catch(() => { throw new Error('the SVG image could not be drawn'); });
    const size = image.naturalWidth && image.naturalHeight ? null : { width: PRESCALED_SIDE, height: PRESCALED_SIDE };
    return pixelsOf(image, size);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A label must be a class index; names go in `fineTune({ classes })`, in index order. */
function checkLabel(label) {
  if (!Number.isInteger(label) || label < 0) {
    throw new TypeError(`label must be a class index (0, 1, 2, …), not ${JSON.stringify(label)}: ` +
      'pass class names to fineTune({ classes }) and label each example with its name\'s index');
  }
}

/** A fresh worker whose messages (and crash) go to `owner`. */
function startWorker(owner, url) {
  const worker = new Worker(url, { type: 'module' });
  worker.onmessage = ({ data }) => owner(data, worker);
  worker.onerror = (event) => {
    event.preventDefault?.();
    owner({ crashed: `the model worker failed: ${event.message || 'unknown error'}` }, worker);
  };
  return worker;
}

/** Batch-1 classifications timed on each backend before 'auto' picks where to classify (the first two warm up). */
const PROBE_RUNS = 7;

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The model, running in a Web Worker. With `backend: 'auto'` it starts at once on the small
 * CPU-only module and, when the browser grants a WebGPU adapter, loads the WebGPU module in the
 * background and switches to it between calls (never during a fine-tune), carrying the
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
  #workerUrl;
  /** Resolves when a backend switch in progress lets calls through again. */
  #gate = Promise.resolve();
  /** The fine-tuning run in progress (a switch waits for it), or null. */
  #fineTuning = null;
  #generation = 0;
  /** The CPU worker that classifies when it measured faster than WebGPU, or null. */
  #classifier = null;
  #probe = true;
  /**
   * `{ backend: 'webgpu' | 'cpu', adapter, fallbackReason, loading, classifier, probe }`:
   * `loading` is 'webgpu' while the WebGPU module loads in the background; `classifier` is 'cpu'
   * when one image classifies faster on the CPU (then `classify`/`explain` run there and
   * fine-tuning on WebGPU); `probe` holds the timings behind that choice, `{ webgpuMs, cpuMs }`.
   */
  backend = null;
  /** The loaded model's description: `{ name, description, classes, accuracy, accuracyOn, … }` */
  info = null;

  constructor(workerUrl = new URL('./secnn-worker.js', import.meta.url)) {
    super();
    this.#workerUrl = workerUrl;
  }

  /**
   * Starts a worker, opens the backend and loads weights.
   * `wasm` optionally passes the bytes of the first module's `secnn_bg.wasm` (e.g. fetched with
   * a progress bar): `pkg-cpu/` for 'auto' and 'cpu', `pkg/` for 'webgpu'.
   * `module` picks the build by hand ('webgpu': the full one, also for the CPU backend); by
   * default it follows `backend`. `probe: false` makes 'auto' classify on WebGPU without timing it.
   * @param {{backend?: 'auto'|'webgpu'|'cpu', weights?: string|Blob|ArrayBuffer|Uint8Array, wasm?: ArrayBuffer|Uint8Array, workerUrl?: URL, module?: 'cpu'|'webgpu', probe?: boolean}} options
   */
  static async create({ backend = 'auto', weights = DEFAULT_WEIGHTS, wasm, workerUrl, module, probe = true } = {}) {
    const model = new SeCnn(workerUrl);
    await model.recreate({ backend, weights, wasm, module, probe });
    return model;
  }

  /** (Re)starts the worker — e.g. on the CPU after the GPU was lost — keeping nothing but the weights given. */
  async recreate({ backend = 'auto', weights = DEFAULT_WEIGHTS, wasm, module, probe = true } = {}) {
    const generation = ++this.#generation; // a switch started before this is abandoned
    this.#probe = probe;
    this.#dropClassifier();
    this.#worker?.terminate();
    this.#failAll(new RuntimeLostError('the runtime was restarted'));
    this.#worker = startWorker((data, worker) => this.#receive(data, worker), this.#workerUrl);
    const build = module ?? (backend === 'webgpu' ? 'webgpu' : 'cpu');
    // On the CPU-only build, 'auto' opens the CPU at once and the switch below adds WebGPU.
    const opened = await this.#call('create', {
      backend: build === 'cpu' ? 'cpu' : backend, module: build, weights: await bytesOf(weights), wasm,
    });
    this.info = opened.info;
    if (backend === 'auto' && build === 'cpu') {
      const webgpu = typeof navigator !== 'undefined' && navigator.gpu;
      this.#setBackend({ ...opened.backend, loading: webgpu ? 'webgpu' : null, classifier: null, probe: null,
        fallbackReason: webgpu ? null : 'this browser has no WebGPU (navigator.gpu)' });
      if (webgpu) this.#switchToWebGpu(generation);
    } else {
      this.#setBackend({ ...opened.backend, loading: null, classifier: null, probe: null });
    }
    return this;
  }

  #dropClassifier() {
    this.#classifier?.terminate();
    if (this.#classifier) this.#failAll(new Error('the CPU classifier was stopped'), this.#classifier);
    this.#classifier = null;
  }

  /** Median milliseconds of a one-image classification on `worker`, as the runtime times it. */
  async #batchOneMilliseconds(worker) {
    const times = [];
    for (let run = 0; run < PROBE_RUNS; run++) {
      const rgba = new Uint8Array(32 * 32 * 4).fill(128);
      const { milliseconds } = await this.#callOn(worker, 'classify', { rgba, width: 32, height: 32, topK: 1, tta: false });
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
    const next = startWorker((data, worker) => this.#receive(data, worker), this.#workerUrl);
    try {
      if (!(await navigator.gpu.requestAdapter())) throw new Error('the browser granted no WebGPU adapter');
      const weights = await this.exportWeights();
      const opened = await this.#callOn(next, 'create', { backend: 'webgpu', module: 'webgpu', weights });
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
      this.#pending.get(id)?.reject(new Error(crashed ?? error));
      this.#pending.delete(id);
      this.#dropClassifier();
      this.#setBackend({ ...this.backend, classifier: null });
      return;
    }
    if (crashed) {
      if (worker === this.#worker) this.#failAll(new RuntimeLostError(crashed), worker);
      else this.#failAll(new Error(crashed), worker);
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
      this.#failAll(new RuntimeLostError(error));
      call.reject(new RuntimeLostError(`${error} — the model runtime crashed; call recreate() to continue`));
    } else {
      call.reject(new Error(error));
    }
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
    if (this.#classifier) return this.#callOn(this.#classifier, method, args, options);
    return this.#call(method, args, options);
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

  async #pixels(image) {
    if (!isEncoded(image)) return pixelsOf(image);
    const bytes = await bytesOf(image);
    let size;
    try {
      size = await this.#call('imageSize', { bytes }); // the header only, EXIF orientation applied
    } catch (error) {
      if (isSvg(bytes)) return rasteriseSvg(bytes);
      throw error;
    }
    if (size.width * size.height > BROWSER_DECODE_PIXELS) return decodeLarge(bytes, size);
    // Decode in Rust: the same decoder, orientation and resize rule as the CLI.
    return this.#call('decode', { bytes }); // rgba is a Uint8Array
  }

  /**
   * Top-k classes: `{ top: [{index, label, probability}], inputRgba (32x32 the model saw), milliseconds }`.
   * `tta` averages the image's logits with its mirror image's (test-time flip averaging).
   */
  async classify(image, { topK = 5, tta = false } = {}) {
    const { rgba, width, height } = await this.#pixels(image);
    return this.#classifyCall('classify', { rgba, width, height, topK, tta }, { transfer: [rgba.buffer] });
  }

  /**
   * Classification plus attention: `{ probabilities, top, blocks: [{ seWeights, mostAttended,
   * leastAttended }], gradcam: { class, label, size, values }, inputRgba, milliseconds }`.
   * `tta` averages the probabilities with the mirror image's; attention is the image's own.
   */
  async explain(image, { topK = 5, channels = 4, camClass = null, tta = false } = {}) {
    const { rgba, width, height } = await this.#pixels(image);
    return this.#classifyCall('explain', { rgba, width, height, topK, channels, camClass, tta }, { transfer: [rgba.buffer] });
  }

  /** Replaces the model (burnpack bytes, Blob or URL). The old one stays if this fails. */
  async loadWeights(weights) {
    const bytes = await bytesOf(weights);
    this.info = await this.#call('loadWeights', { weights: bytes });
    if (this.#classifier) await this.#callOn(this.#classifier, 'loadWeights', { weights: bytes });
    return this.info;
  }

  /** The current (possibly fine-tuned) weights as burnpack bytes, with their description. */
  exportWeights() {
    return this.#call('exportWeights');
  }

  /**
   * Adds a labelled example for fine-tuning; returns the number of examples. `label` is a class
   * index: of the model's classes, or of the `classes` that `fineTune` will be given.
   */
  async addExample(image, label) {
    checkLabel(label);
    const { rgba, width, height } = await this.#pixels(image);
    return this.#call('addExample', { rgba, width, height, label }, { transfer: [rgba.buffer] });
  }

  /** Adds every image of an official CIFAR-10 binary batch (data_batch_N.bin / test_batch.bin). */
  async addCifarBatch(file) {
    return this.#call('addCifarBatch', { bytes: await bytesOf(file), name: file.name ?? 'batch.bin' });
  }

  clearExamples() {
    return this.#call('clearExamples');
  }

  exampleCount() {
    return this.#call('exampleCount');
  }

  /**
   * Fine-tunes on the added examples. Returns a run with `pause()`, `resume()`, `cancel()`,
   * `finish()` and `done` (a promise of `{ status, info }`).
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
  fineTune({ classes = null, probe = null, onPlan, onStep, onEpoch, onPause, ...options } = {}) {
    if (classes !== null && (!Array.isArray(classes) || classes.some((name) => typeof name !== 'string'))) {
      throw new TypeError('classes must be an array of class names (strings), or null to keep the model\'s classes');
    }
    const probePixels = probe ? pixelsOf(probe) : null;
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
