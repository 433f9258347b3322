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

/** RGBA pixels of a drawable (or ImageData) at its natural size. */
function pixelsOf(image) {
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    return { rgba: new Uint8Array(image.data.buffer.slice(0)), width: image.width, height: image.height };
  }
  const width = image.naturalWidth || image.videoWidth || image.width;
  const height = image.naturalHeight || image.videoHeight || image.height;
  if (!width || !height) throw new Error('the image has no pixels (not loaded yet?)');
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(image, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height);
  return { rgba: new Uint8Array(data.data.buffer), width, height };
}

export class SeCnn {
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  #workerUrl;
  /** `{ backend: 'webgpu' | 'cpu', adapter, fallbackReason }` */
  backend = null;
  /** The loaded model's description: `{ name, description, classes, accuracy, accuracyOn, … }` */
  info = null;

  constructor(workerUrl = new URL('./secnn-worker.js', import.meta.url)) {
    this.#workerUrl = workerUrl;
  }

  /**
   * Starts a worker, opens the backend and loads weights.
   * `wasm` optionally passes the bytes of `pkg/secnn_bg.wasm` (e.g. fetched with a progress bar).
   * @param {{backend?: 'auto'|'webgpu'|'cpu', weights?: string|Blob|ArrayBuffer|Uint8Array, wasm?: ArrayBuffer|Uint8Array, workerUrl?: URL}} options
   */
  static async create({ backend = 'auto', weights = DEFAULT_WEIGHTS, wasm, workerUrl } = {}) {
    const model = new SeCnn(workerUrl);
    await model.recreate({ backend, weights, wasm });
    return model;
  }

  /** (Re)starts the worker — e.g. on the CPU after the GPU was lost — keeping nothing but the weights given. */
  async recreate({ backend = 'auto', weights = DEFAULT_WEIGHTS, wasm } = {}) {
    this.#worker?.terminate();
    this.#failAll(new RuntimeLostError('the runtime was restarted'));
    this.#worker = new Worker(this.#workerUrl, { type: 'module' });
    this.#worker.onmessage = ({ data }) => this.#receive(data);
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      this.#failAll(new RuntimeLostError(`the model worker failed: ${event.message || 'unknown error'}`));
    };
    const { backend: opened, info } = await this.#call('create', { backend, weights: await bytesOf(weights), wasm });
    this.backend = opened;
    this.info = info;
    return this;
  }

  #failAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }

  #receive({ id, result, error, fatal, progress }) {
    const call = this.#pending.get(id);
    if (!call) return;
    if (progress !== undefined) {
      call.onProgress?.(progress);
      return;
    }
    this.#pending.delete(id);
    if (error !== undefined) {
      if (fatal) {
        this.#worker?.terminate();
        this.#worker = null;
        this.#failAll(new RuntimeLostError(error));
        call.reject(new RuntimeLostError(`${error} — the model runtime crashed; call recreate() to continue`));
      } else {
        call.reject(new Error(error));
      }
    } else {
      call.resolve(result);
    }
  }

  #call(method, args, { onProgress, transfer = [] } = {}) {
    if (!this.#worker) return Promise.reject(new RuntimeLostError('no runtime: call recreate()'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  async #pixels(image) {
    if (isEncoded(image)) {
      // Decode in Rust: the same decoder and resize rule as the CLI.
      return this.#call('decode', { bytes: await bytesOf(image) }); // rgba is a Uint8Array
    }
    return pixelsOf(image);
  }

  /** Top-k classes: `{ top: [{index, label, probability}], inputRgba (32x32 the model saw), milliseconds }`. */
  async classify(image, { topK = 5 } = {}) {
    const { rgba, width, height } = await this.#pixels(image);
    return this.#call('classify', { rgba, width, height, topK }, { transfer: [rgba.buffer] });
  }

  /**
   * Classification plus attention: `{ probabilities, top, blocks: [{ seWeights, mostAttended,
   * leastAttended }], gradcam: { class, label, size, values }, inputRgba, milliseconds }`.
   */
  async explain(image, { topK = 5, channels = 4, camClass = null } = {}) {
    const { rgba, width, height } = await this.#pixels(image);
    return this.#call('explain', { rgba, width, height, topK, channels, camClass }, { transfer: [rgba.buffer] });
  }

  /** Replaces the model (burnpack bytes, Blob or URL). The old one stays if this fails. */
  async loadWeights(weights) {
    this.info = await this.#call('loadWeights', { weights: await bytesOf(weights) });
    return this.info;
  }

  /** The current (possibly fine-tuned) weights as burnpack bytes, with their description. */
  exportWeights() {
    return this.#call('exportWeights');
  }

  /** Adds a labelled example for fine-tuning; returns the number of examples. */
  async addExample(image, label) {
    if (isEncoded(image)) return this.#call('addExampleFile', { bytes: await bytesOf(image), label });
    const { rgba, width, height } = pixelsOf(image);
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
   * @param {{ classes?: string[], epochs?: number, batchSize?: number, learningRate?: number,
   *   optimizer?: 'adam'|'adamw'|'sgd', schedule?: 'plateau'|'onecycle'|'cosine'|'constant',
   *   freeze?: 'none'|'head'|'head-attention', augment?: boolean, validationSplit?: number,
   *   probe?: ImageData|HTMLImageElement|ImageBitmap|HTMLCanvasElement,
   *   onPlan?: Function, onStep?: Function, onEpoch?: Function, onPause?: Function }} options
   */
  fineTune({ classes = null, probe = null, onPlan, onStep, onEpoch, onPause, ...options } = {}) {
    const probePixels = probe ? pixelsOf(probe) : null;
    const onProgress = (progress) => {
      if (progress.type === 'plan') onPlan?.(progress.plan);
      else if (progress.type === 'paused') onPause?.();
      else if (progress.type === 'step') {
        onStep?.(progress.report);
        if (progress.report.epochEnd) onEpoch?.(progress.report.epochEnd);
      }
    };
    const done = this.#call('fineTune', { options, classes, probe: probePixels }, { onProgress }).then((result) => {
      this.info = result.info;
      return result;
    });
    const control = (method) => this.#call(method);
    return {
      done,
      pause: () => control('pause'),
      resume: () => control('resume'),
      cancel: () => control('cancel'),
      finish: () => control('finish'),
    };
  }

  /** Stops the worker. */
  terminate() {
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll(new RuntimeLostError('terminated'));
  }
}
