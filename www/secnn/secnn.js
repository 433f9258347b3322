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

import { checkClasses, checkData, checkImage, checkLabel, checkOptions, checkWeights } from './secnn-args.js';
import { resolveAssets } from './secnn-assets.js';
import { Backends } from './secnn-backends.js';
import { bytesOf, pixelsOf, readPixels } from './secnn-images.js';

export { ERROR_CODES } from './secnn-protocol.js';
export { RuntimeLostError } from './secnn-backends.js';


/** The saved-models store (secnn-store.js), loaded on first use: most pages never save. */
const savedModels = () => import('./secnn-store.js');
const isSaved = (value) => typeof value === 'string' && value.startsWith('indexeddb://');

/**
 * `weights` as the worker takes them: bytes, or a URL it fetches; `indexeddb://name` is read
 * from the browser's storage here. A promise of them is checked again once it settles.
 */
async function weightBytes(weights, call) {
  const value = weights instanceof Promise ? await weights : weights;
  if (weights instanceof Promise) checkWeights(call, value);
  if (!isSaved(value)) return bytesOf(value);
  const { checkName, loadModel } = await savedModels();
  return loadModel(checkName(call, value));
}

/**
 * The model, running in a Web Worker. With `backend: 'auto'` it starts at once on the small
 * CPU-only module (threaded where the page is cross-origin isolated) and, when the browser
 * grants a WebGPU adapter, loads the WebGPU module in the background and times a few training
 * steps and one-image classification on both. Where WebGPU trains faster it switches to it
 * between calls (never during a fine-tune), carrying the current weights and collected examples
 * across; where the CPU trains faster (a software or slow integrated GPU) the CPU worker stays.
 * Where the backend that does not fine-tune classifies one image faster (a fast GPU whose
 * per-call overhead dominates one image), its worker stays as the classifier
 * (`backend.classifier`). Listen for
 * `backendchange` events (or read `backend`) to follow the switch. The workers and the switch
 * live in secnn-backends.js; this class checks arguments and forwards calls.
 */
export class SeCnn extends EventTarget {
  /** Where the worker, the three `.wasm` files and the default weights come from (`resolveAssets`). */
  #assets;
  #backends;
  /**
   * `{ backend: 'webgpu' | 'cpu', adapter, fallbackReason, threads, module, loading, onDemand, classifier, probe }`:
   * `threads` is the CPU work's thread count (the threaded module's pool, else 1); `module` the
   * build running ('cpu', 'threads' or 'webgpu'); `loading` is 'webgpu' while the WebGPU module
   * loads in the background; `onDemand` is 'webgpu' while it waits for a sign of intent (`create({ webgpu: 'on-demand' })`); `classifier` is 'cpu'
   * (or 'webgpu') when one image classifies faster on the backend that does not fine-tune (then
   * `classify`/`explain` run there); `probe` holds the timings behind those choices,
   * `{ webgpuMs, cpuMs, training: { cpu, webgpu, webgpuStopped } }`.
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
    this.#backends = new Backends({
      backendChanged: (backend) => {
        this.backend = backend;
        this.dispatchEvent(new CustomEvent('backendchange', { detail: backend }));
      },
      infoChanged: (info) => { this.info = info; },
      facts: () => this.facts,
    }, this.#assets);
  }

  /**
   * Starts a worker, opens the backend and loads weights.
   * `module` picks the build by hand ('webgpu': the full one, also for the CPU backend;
   * 'threads': the threaded CPU one, which falls back to 'cpu' where the page is not
   * cross-origin isolated); by default it follows `backend`, and the CPU build is the threaded
   * one on isolated pages. `probe: false` makes 'auto' switch to WebGPU without timing it.
   * Files (only for setups that move them; bundlers need none of these):
   * - `assetsUrl`: a folder URL holding the package's files (secnn-worker.js, pkg-cpu/,
   *   pkg-threads/, pkg/, model/), e.g. a CDN path; a worker on another origin starts through a
   *   blob stub (the threaded build's pool workers cannot: it then runs single-threaded).
   * - `workerUrl`: secnn-worker.js elsewhere (the threaded build's pool starts
   *   secnn-pool-worker.js from beside it).
   * - `wasm: { cpu, threads, webgpu }`: each build's `secnn_bg.wasm`, as a URL (best: the worker
   *   downloads and compiles it off the page's thread while it streams), its bytes or its
   *   WebAssembly.Module (`pkg-cpu/`, or `pkg-threads/` on isolated pages, runs first for
   *   'auto' and 'cpu').
   * - `weights`: a URL, Blob or bytes of a burnpack (default: the shipped CIFAR-10 model), or
   *   `'indexeddb://name'` for a model kept with `save`.
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

  /** The models kept in this browser with `save('indexeddb://name')`: `[{ url, name, savedAt, bytes, modelName, classes }]`. */
  static async listSaved() {
    return (await savedModels()).listModels();
  }

  /** Forgets a model kept with `save` (its name or `'indexeddb://name'`); resolves true when there was one. */
  static async removeSaved(name) {
    const { checkName, removeModel } = await savedModels();
    return removeModel(checkName('removeSaved', isSaved(name) ? name : `indexeddb://${name}`));
  }

  /**
   * (Re)starts the worker — e.g. on the CPU after the GPU was lost — keeping nothing but the
   * weights given (by default those `create` was given).
   */
  async recreate(options = {}) {
    checkOptions('recreate', options);
    if (options.weights !== undefined) checkWeights('recreate', options.weights, { promise: true });
    const { backend = 'auto', weights = this.#assets.weights, module, probe = true, webgpu = 'eager' } = options;
    const call = options.weights === undefined ? 'create' : 'recreate';
    const { info, facts } = await this.#backends.start({ backend, module, probe, webgpu }, weightBytes(weights, call));
    this.info = info;
    this.facts = facts;
    return this;
  }

  /**
   * Starts loading the WebGPU module now, where `create({ webgpu: 'on-demand' })` deferred it
   * (the fine-tuning calls do this themselves); does nothing otherwise.
   */
  loadWebGpu() {
    this.#backends.loadWebGpu();
  }

  /** What the argument rules need to know of the loaded model. */
  #context() {
    return { classes: this.info?.classes.length, ...this.facts };
  }

  #call(method, args, options) {
    return this.#backends.call(method, args, options);
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
    return this.#backends.classifyCall('classify', { rgba, width, height, topK, tta }, { transfer: [rgba.buffer] });
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
    return this.#backends.classifyCall('explain', { rgba, width, height, topK, channels, camClass, tta, map }, { transfer: [rgba.buffer] });
  }

  /**
   * Replaces the model (a burnpack, `.safetensors` or `.pth`: bytes, Blob or URL, or
   * `'indexeddb://name'` for one kept with `save`). The old one stays if this fails.
   * A URL is fetched here, without credentials, only over https (or from the page's own origin),
   * at most 256 MB (`secnn-fetch.js`), with `onProgress({ loaded, total })` as it arrives; with
   * `sha256` (64 hex digits) the file must hash to it (else code 'hash-mismatch') before it is used.
   */
  async loadWeights(weights, options = {}) {
    checkWeights('loadWeights', weights);
    checkOptions('loadWeights', options);
    const bytes = typeof weights === 'string' || weights instanceof URL ? await this.#fetchLinked(weights, options) : await weightBytes(weights, 'loadWeights');
    this.info = await this.#backends.loadWeightsEverywhere(bytes);
    this.facts = await this.#call('facts');
    return this.info;
  }

  /** Weights at a URL a person gave: `indexeddb://`, or fetched by secnn-fetch.js's rules. */
  async #fetchLinked(url, { sha256, onProgress } = {}) {
    if (isSaved(String(url))) return weightBytes(String(url), 'loadWeights');
    const { checkSha256, fetchWeights, weightsUrl } = await import('./secnn-fetch.js');
    const expected = checkSha256('loadWeights', sha256);
    return fetchWeights(weightsUrl(url, 'loadWeights'), { sha256: expected, onProgress });
  }

  /**
   * The current (possibly fine-tuned) weights as bytes: `format` 'burnpack' (default; secnn's
   * file, with its description), 'safetensors' (for PyTorch: the seed's parameter names, f32,
   * the class names in the metadata; `loadWeights` reads it back) or 'onnx' (one standard graph:
   * input `image` [N, 3, size, size] normalised as the input rule says, outputs `logits` and the
   * SE weights of every block `se1`…; the class names and the input rule in its metadata; written
   * by a module loaded on first use).
   */
  exportWeights(options = {}) {
    checkOptions('exportWeights', options);
    return this.#call('exportWeights', options);
  }

  /**
   * Keeps the current weights in this browser's storage (IndexedDB), TF.js's way:
   * `save('indexeddb://name')`. `create({ weights })` and `loadWeights` read them back by the
   * same URL; `SeCnn.listSaved()` lists them. Resolves with `{ url, name, savedAt, bytes, modelName, classes }`;
   * a full storage rejects with code 'quota-exceeded' and keeps nothing.
   */
  async save(url) {
    const { checkName, saveModel } = await savedModels();
    const name = checkName('save', url);
    const bytes = await this.exportWeights();
    return saveModel(name, bytes, this.info);
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

  /**
   * Adds every image of an official CIFAR binary file, resized to the model's input size:
   * CIFAR-10's batches (data_batch_N.bin, test_batch.bin) or CIFAR-100's train.bin / test.bin
   * (fine labels). CIFAR-100's fine_label_names.txt adds no image and names its classes in
   * `exampleClasses()`. Resolves with the number of images added.
   */
  async addCifarBatch(file) {
    this.loadWebGpu();
    return this.#call('addCifarBatch', { bytes: await bytesOf(file), name: file.name ?? 'batch.bin' });
  }

  /**
   * The classes the CIFAR files added label their images with (CIFAR-10's ten, or CIFAR-100's
   * hundred, named by its fine_label_names.txt when one was added), or null when none was: the
   * `classes` to fine-tune CIFAR-100 with.
   */
  exampleClasses() {
    return this.#call('exampleClasses');
  }

  /**
   * The collected examples as data (bytes: a header with the image size, then for each its
   * label and the image as the model sees it), to keep and give back to `importExamples` later.
   */
  exportExamples() {
    return this.#call('exportExamples');
  }

  /** Adds examples that `exportExamples` gave (bytes or a Blob); returns the number of examples. */
  async importExamples(bytes) {
    checkData('importExamples', bytes);
    return this.#call('addCifarBatch', { bytes: await bytesOf(bytes), name: 'examples' });
  }

  /**
   * Reads a zip by the runtime's rules: a project (`project.json`, `classes/<folder>/NNNN.png`,
   * `model.safetensors`) or a plain zip of class folders (`<class>/*.jpg`). Resolves with
   * `{ kind: 'project' | 'folders', project, classes: [{ name, files: [{ name, bytes }] }],
   * weights, skipped }`; a bad archive (not a zip, a zip bomb, a path that escapes, an empty
   * class, a class of non-images, a damaged entry) rejects with code 'invalid-file' and
   * `details.reason` naming it.
   */
  async readArchive(zip) {
    checkData('readArchive', zip);
    return this.#call('readArchive', { bytes: await bytesOf(zip) });
  }

  /**
   * A project file (zip bytes) that `readArchive`, the page and `secnn train --data` read back:
   * `project` (JSON: `{ format: 'secnn-project', version: 1, classes: [{ name }], … }`), each
   * class's images (`classes: [{ name, files: [Uint8Array PNG] }]`) and optional `weights`
   * (a `.safetensors`).
   */
  writeProject({ project, classes, weights = null }) {
    return this.#call('writeProject', { project, classes, weights });
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
    // The run ends (done, finished early or cancelled) with the classifier in step.
    const done = this.#backends.fineTune({ options, classes, probe: probePixels }, onProgress, async (result) => {
      this.info = result.info;
      await this.#backends.syncClassifier();
      return result;
    });
    const control = (method) => this.#call(method);
    return {
      done,
      pause: () => control('pause'),
      resume: () => control('resume'),
      cancel: () => control('cancel'),
      finish: () => control('finish'),
      // Between steps: `{ weights (a burnpack, f32), kept: { epoch, epochs, accuracy } | null }`.
      keptWeights: () => this.#call('exportKeptWeights'),
    };
  }

  /** Stops the worker (and a WebGPU module still loading). */
  terminate() {
    this.#backends.terminate();
  }
}
