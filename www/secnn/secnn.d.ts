// Type declarations for www/secnn.js — the secnn browser module.
//
// Every call checks its arguments before they reach the worker (and the worker checks them
// again): a wrong type, an unknown option or value throws a TypeError, a number out of range or
// not finite a RangeError, each naming the call, the parameter, the value given and what is
// allowed, e.g. `fineTune: epochs must be an integer from 1 to 1000, not -3`.
// Every error the module raises has a stable `code` (ErrorCode) to branch on; the message is for people.

export type Backend = 'auto' | 'webgpu' | 'cpu';
/**
 * Encoded files (Blob, bytes) may be JPEG, PNG, GIF, BMP, WebP or SVG, plus what the browser
 * itself decodes (AVIF; HEIC in Safari); EXIF orientation is applied. Anything else is refused
 * with code `unsupported-format` or `not-an-image`.
 */
export type ImageInput =
  | ImageData | ImageBitmap | HTMLImageElement | HTMLCanvasElement | HTMLVideoElement | OffscreenCanvas
  | Blob | ArrayBuffer | Uint8Array;
/** A URL (or `'indexeddb://name'`: a model kept with `save`), a File or Blob, or the bytes. */
export type WeightsInput = string | URL | Blob | ArrayBuffer | Uint8Array;

/** `error.code` of every error the module raises (secnn-protocol.js lists what each means). */
export type ErrorCode =
  | 'invalid-argument' | 'not-an-image' | 'unsupported-format' | 'image-too-large' | 'invalid-weights'
  | 'corrupted' | 'invalid-file' | 'fetch-failed' | 'busy' | 'diverged' | 'device-lost' | 'webgpu-unavailable'
  | 'runtime-lost' | 'quota-exceeded' | 'storage-unavailable' | 'hash-mismatch' | 'internal';
export const ERROR_CODES: Readonly<Record<string, ErrorCode>>;

/** An error from the module: `details` carries numbers for some codes (`diverged`: `{ loss, epoch }`). */
export interface SeCnnError extends Error {
  code: ErrorCode;
  details?: Record<string, unknown>;
}

/** What callers must not hard-code about the loaded model, from the runtime. */
export interface ModelFacts {
  /** Images are resized to this many pixels square. */
  inputSize: number;
  /** Channels (and SE weights) of each block, first to last: as many entries as the model has blocks (1–6). */
  blockWidths: number[];
  /** The model's trainable parameters. */
  parameters: number;
  /** About how much memory fine-tuning it at batch 64 needs, in bytes. */
  fineTuneBytes: number;
  /** Custom fine-tuning trains between `minClasses` and `maxClasses` classes. */
  minClasses: number;
  maxClasses: number;
  /** The classes the shipped model learned (CIFAR-10). */
  datasetClasses: string[];
  /** The family's bounds, which every front end takes: blocks, classes, input size, parameters, fine-tuning memory. */
  limits: Record<string, number>;
  /** How pixels become the model's input: resized to `size` square, then per channel `(value / 255 - mean) / std`. */
  inputRule: { size: number; mean: [number, number, number]; std: [number, number, number] };
}

/** The module's builds: CPU single-threaded, CPU on a pool of threads, WebGPU (with the CPU). */
export type ModuleName = 'cpu' | 'threads' | 'webgpu';

export interface BackendInfo {
  /** The backend in use. */
  backend: 'webgpu' | 'cpu';
  /** Adapter name (WebGPU) or "CPU (Burn flex, wasm SIMD128)". */
  adapter: string;
  /** Why 'auto' fell back to the CPU, if it did. */
  fallbackReason: string | null;
  /**
   * Threads the CPU work runs on: the threaded module's pool (cross-origin isolated pages), else
   * 1. The pool starts behind the first calls: 1 until then, and a `backendchange` when it runs.
   */
  threads: number;
  /** The build running: 'cpu' (single-threaded), 'threads' or 'webgpu'. */
  module: ModuleName;
  /** 'webgpu' while 'auto' loads the WebGPU module in the background (the CPU serves meanwhile). */
  loading?: 'webgpu' | null;
  /**
   * 'webgpu' while WebGPU is available but not loaded (`create({ webgpu: 'on-demand' })`): it
   * loads on `addExample`, `addCifarBatch`, `fineTune` or `loadWebGpu()`.
   */
  onDemand?: 'webgpu' | null;
  /**
   * Where `classify`/`explain` run when that is not `backend`: 'cpu' when 'auto' measured one
   * image faster on the CPU while WebGPU fine-tunes faster, 'webgpu' the other way round.
   */
  classifier?: 'cpu' | 'webgpu' | null;
  /** The timings behind `backend` and `classifier`, when 'auto' measured them. */
  probe?: BackendProbe | null;
}

/**
 * What 'auto' measured on both backends before choosing: fine-tuning goes where `training` is
 * faster, classification where one image is.
 */
export interface BackendProbe {
  /** One-image classification, median milliseconds. */
  webgpuMs: number;
  cpuMs: number;
  /**
   * Training images per second, a few steps of 16 images of the heaviest fine-tune (everything
   * trains, augmented). `webgpuStopped`: the timing stopped once WebGPU had taken longer than
   * the CPU, so `webgpu` is an upper bound.
   */
  training: { cpu: number; webgpu: number; webgpuStopped: boolean };
}

export interface ModelInfo {
  format: number;
  name: string;
  description: string;
  /** Class names; index = output index. */
  classes: string[];
  /** Accuracy measured on `accuracyOn`, one prediction per image. */
  accuracy: number | null;
  accuracyOn: string | null;
  /** Accuracy on the same images with test-time flip averaging (`tta: true`), when measured. */
  accuracyTta?: number | null;
  widths: [number, number, number];
  reduction: number;
  hidden: number;
  /** How the file stores convolution and linear weights (the model always runs in f32). */
  storage: 'f32' | 'f16' | 'int8' | 'int4';
}

export interface ClassScore { index: number; label: string; probability: number; }

export interface Classified {
  top: ClassScore[];
  /** The 32x32 RGBA image the model actually saw. */
  inputRgba: Uint8Array;
  milliseconds: number;
}

export interface ChannelMap {
  channel: number;
  /** SE weight in (0, 1). */
  weight: number;
  /** Side of the square map: 32, 16 or 8. */
  size: number;
  values: number[];
}

export interface BlockAttention {
  /** One SE weight per channel, in channel order. */
  seWeights: number[];
  mostAttended: ChannelMap[];
  leastAttended: ChannelMap[];
  /** The map asked for with `explain(image, { map })`, in its block. */
  requested?: ChannelMap;
}

export interface GradCam {
  class: number;
  label: string;
  rawSize: number;
  raw: number[];
  /** Side of `values` (32, the model input). */
  size: number;
  /** Heatmap in [0, 1], row-major. */
  values: number[];
}

export interface Explained extends Classified {
  probabilities: number[];
  blocks: BlockAttention[];
  gradcam: GradCam;
}

export interface StepMetrics { loss: number; correct: number; count: number; lr: number; }

export interface Evaluation {
  loss: number;
  accuracy: number;
  perClassAccuracy: number[];
  /** confusion[true][predicted] */
  confusion: number[][];
  count: number;
}

export interface EpochReport {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validation: Evaluation | null;
  nextLr: number;
}

export interface StepReport {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  globalStep: number;
  totalSteps: number;
  metrics: StepMetrics;
  runningLoss: number;
  runningAccuracy: number;
  /** SE weights of the probe image after this step, one array per block. On WebGPU, steps are
   * read back from the GPU a few at a time, and only the last of each group carries them (the
   * others have null). */
  probeSeWeights: number[][] | null;
  epochEnd: EpochReport | null;
  done: boolean;
}

/** How a class of the new last layer started: the loaded model's row for the same name, the
 * mean features of its examples (imprinting), or a random row. */
export type ClassStart = 'kept' | 'imprinted' | 'random';

export interface FineTunePlan {
  trainImages: number;
  validationImages: number;
  /** What to know before trusting the run's numbers (too few validation images to mean much). */
  warnings: FineTuneWarning[];
  /** Validation before the first step; the run ends with its best epoch, this one included. */
  startValidation: Evaluation | null;
  stepsPerEpoch: number;
  totalSteps: number;
  classes: string[];
  headReinitialised: boolean;
  classStarts: ClassStart[];
  usesFeatureCache: boolean;
}

export type FineTuneWarning =
  | { code: 'no-validation-images' }
  /** Each validation image moves the accuracy by `pointsPerImage` points (under 20 images). */
  | { code: 'few-validation-images'; images: number; pointsPerImage: number };

/** The weights a run kept when a validation set chose them: after `epoch` (0: the start) of `epochs`. */
export interface KeptEpoch { epoch: number; epochs: number; accuracy: number; }

export interface FineTuneOptions {
  /** 2–10 custom class names (a new last layer is trained); omit to keep the model's classes. */
  classes?: string[] | null;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  optimizer?: 'adam' | 'adamw' | 'sgd';
  schedule?: 'plateau' | 'onecycle' | 'cosine' | 'constant';
  freeze?: 'none' | 'head' | 'head-attention';
  augment?: boolean;
  validationSplit?: number;
  /** L2 weight decay on convolution and linear weights (not BatchNorm, not biases). */
  weightDecay?: number;
  /** Dropout before the last layer while training (default 0.5). */
  dropout?: number;
  /** Share of the steps the one-cycle schedule warms up for (default 0.3). */
  warmup?: number;
  labelSmoothing?: number;
  /** An exponential moving average of the weights with this decay (e.g. 0.999; 0: off, the default); validation and the result use the average. */
  ema?: number;
  /** Cutout: a square of this many pixels around a random pixel of each training image set to the mean colour (0: off, the default). */
  cutout?: number;
  seed?: number;
  /** Image whose SE weights are reported after every step. */
  probe?: ImageData | HTMLImageElement | ImageBitmap | HTMLCanvasElement | null;
  onPlan?: (plan: FineTunePlan) => void;
  onStep?: (report: StepReport) => void;
  onEpoch?: (report: EpochReport) => void;
  onPause?: () => void;
}

export interface FineTuneRun {
  /** Rejects with code 'diverged' when the loss stops being finite (the weights from before are restored). */
  done: Promise<{ status: 'done' | 'cancelled' | 'finished early'; info: ModelInfo; kept: KeptEpoch | null }>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  finish(): Promise<void>;
  /**
   * Between steps: what the run would keep if it ended now (a burnpack, f32; the best epoch on
   * validation, or the weights as they stand without one). A page stores it after every epoch so
   * that a crash leaves the last kept epoch.
   */
  keptWeights(): Promise<{ weights: Uint8Array; kept: KeptEpoch | null }>;
}

/** A model kept in this browser with `save('indexeddb://name')`. */
export interface SavedModel {
  url: string;
  name: string;
  /** ISO 8601. */
  savedAt: string;
  /** Size of the weights file. */
  bytes: number;
  /** The weights' own name (`ModelInfo.name`) and classes. */
  modelName: string;
  classes: string[];
}

/** A zip read by the runtime's rules (`readArchive`). */
export interface Archive {
  /** 'project': written by `writeProject` (a page's *Save project*); 'folders': a zip of class folders. */
  kind: 'project' | 'folders';
  /** project.json, for a project. */
  project: Record<string, unknown> | null;
  /** The classes in order, with their images' file names and bytes. */
  classes: { name: string; files: { name: string; bytes: Uint8Array }[] }[];
  /** A project's `model.safetensors`, if it has one. */
  weights: Uint8Array | null;
  /** Files that are not images, left out. */
  skipped: { name: string; reason: string }[];
}

/** The worker's wasm instance crashed (or was terminated); call `recreate()`. */
export class RuntimeLostError extends Error { code: 'runtime-lost'; }

/** A `secnn_bg.wasm` override: its URL, or its bytes or compiled module when the page downloaded it itself. */
export type WasmSource = string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module;

/**
 * Where the module's files come from. Bundlers (Vite, webpack, Rollup) need none of these: every
 * file is named by a literal `new URL(…, import.meta.url)` they follow. For setups that move files
 * or bundle nothing. Relative URLs are resolved against the page.
 */
export interface AssetOptions {
  /**
   * A folder holding the package's files (`secnn-worker.js`, `pkg-cpu/`, `pkg/`, `model/`), e.g.
   * a CDN path. A worker on another origin starts through a same-origin blob stub: a page's CSP
   * then needs `worker-src blob:` plus that origin, and `script-src 'wasm-unsafe-eval'` plus that origin.
   */
  assetsUrl?: string | URL;
  /** `secnn-worker.js` elsewhere (it loads `pkg-cpu/`, `pkg-threads/` and `pkg/` from beside itself). */
  workerUrl?: string | URL;
  /**
   * Each build's `secnn_bg.wasm`: `cpu` (pkg-cpu/, what 'auto' and 'cpu' start on), `threads`
   * (pkg-threads/, what they start on where the page is cross-origin isolated) and `webgpu` (pkg/).
   * Each may also be a promise of one: the worker starts while it settles, then downloads and
   * compiles it (off the page's thread) while the weights still download.
   */
  wasm?: { cpu?: WasmSource | Promise<WasmSource>; threads?: WasmSource | Promise<WasmSource>; webgpu?: WasmSource | Promise<WasmSource> };
  /** Burnpack weights (default: the shipped CIFAR-10 model, `model/secnn-cifar10.bpk`), or a promise of them. */
  weights?: WeightsInput | Promise<WeightsInput>;
}

export interface CreateOptions extends AssetOptions {
  backend?: Backend;
  /**
   * The build to run, by hand ('webgpu' is the full one, also for the CPU backend; 'threads'
   * falls back to 'cpu' where the page is not cross-origin isolated); by default it follows
   * `backend`, on the threaded CPU build where the page is isolated.
   */
  module?: ModuleName;
  /** `false`: 'auto' classifies on WebGPU without timing it against the CPU. */
  probe?: boolean;
  /**
   * With 'auto': 'eager' (default) fetches the WebGPU module (2.9 MB) at once; 'on-demand' only
   * on a sign it can pay off (`addExample`, `addCifarBatch`, `fineTune`, `loadWebGpu()`), so a
   * visitor who only classifies downloads the small CPU module alone.
   */
  webgpu?: 'eager' | 'on-demand';
}

/**
 * With `backend: 'auto'` the model starts on the small CPU-only module and switches to the
 * WebGPU module once it has loaded (between calls, never during a fine-tune, weights and
 * collected examples carried over); each change of `backend` fires a `backendchange` event
 * whose `detail` is the new `BackendInfo`. Before switching it times a few training steps and
 * one-image classification on both (`backend.probe`): the faster trainer runs the model (a
 * software GPU loses to the CPU), and the other classifies where it is faster there
 * (`backend.classifier`). `probe: false` skips the timing and switches.
 */
export class SeCnn extends EventTarget {
  backend: BackendInfo | null;
  info: ModelInfo | null;
  facts: ModelFacts | null;
  /** Starts loading the WebGPU module where `webgpu: 'on-demand'` deferred it; otherwise does nothing. */
  loadWebGpu(): void;
  /** Use `SeCnn.create()`. */
  constructor(assets?: AssetOptions);
  static create(options?: CreateOptions): Promise<SeCnn>;
  /** Restarts the worker; `weights` defaults to those `create` was given. */
  recreate(options?: { backend?: Backend; weights?: WeightsInput | Promise<WeightsInput>; module?: ModuleName; probe?: boolean; webgpu?: 'eager' | 'on-demand' }): Promise<SeCnn>;
  /** `tta`: average with the mirror image (test-time flip averaging). */
  classify(image: ImageInput, options?: { topK?: number; tta?: boolean }): Promise<Classified>;
  /** `map: { block, channel }` (block from 1) adds that channel's feature map as `blocks[block - 1].requested`. */
  explain(image: ImageInput, options?: { topK?: number; channels?: number; camClass?: number | null; tta?: boolean; map?: { block: number; channel: number } | null }): Promise<Explained>;
  /** A burnpack written by secnn, or a state_dict of the seed's CNN: `.safetensors` (class names from its metadata) or `.pth` (`torch.save`, either format). */
  /**
   * A URL is fetched without credentials, only over https (or from the page's own origin), at most
   * 256 MB; `sha256` (64 hex digits) must match the file (else code 'hash-mismatch'); failures to
   * fetch have code 'fetch-failed' and `details.reason` ('cors-or-network', 'not-found', 'http', 'too-large').
   */
  loadWeights(weights: WeightsInput, options?: { sha256?: string; onProgress?: (progress: { loaded: number; total: number | null }) => void }): Promise<ModelInfo>;
  /**
   * `format`: 'burnpack' (default), 'safetensors' (loads into the seed's PyTorch class) or 'onnx'
   * (input `image` [N, 3, size, size], outputs `logits` and `se1`…`seN`; class names and the input
   * rule in `metadata_props`).
   */
  exportWeights(options?: { format?: 'burnpack' | 'safetensors' | 'onnx' }): Promise<Uint8Array>;
  /**
   * Keeps the current weights in this browser (IndexedDB), as TF.js's `model.save('indexeddb://name')`;
   * `create({ weights })` and `loadWeights` take the same URL. A full storage rejects with code 'quota-exceeded'.
   * Stored models carry a checksum: a damaged copy is refused with code 'corrupted'.
   */
  save(url: `indexeddb://${string}`): Promise<SavedModel>;
  static listSaved(): Promise<SavedModel[]>;
  /** `name` or `'indexeddb://name'`; resolves true when such a model was kept. */
  static removeSaved(name: string): Promise<boolean>;
  /** The collected examples as data: per example a label byte and the model's input (CIFAR-10's binary layout). */
  exportExamples(): Promise<Uint8Array>;
  /** Adds examples that `exportExamples` gave; resolves with the number of examples. */
  importExamples(data: Blob | ArrayBuffer | Uint8Array): Promise<number>;
  /**
   * A zip: a project (project.json, classes/<folder>/NNNN.png, model.safetensors) or class folders
   * (`<class>/*.jpg`). A bad one (not a zip, a zip bomb, a path that escapes, an empty class, a class of
   * non-images, a damaged entry) rejects with code 'invalid-file' and `details.reason`.
   */
  readArchive(zip: Blob | ArrayBuffer | Uint8Array): Promise<Archive>;
  /** A project zip that `readArchive`, the page and `secnn train --data` read; `classes[].files` are PNG bytes. */
  writeProject(project: { project: Record<string, unknown>; classes: { name: string; files: Uint8Array[] }[]; weights?: Uint8Array | null }): Promise<Uint8Array>;
  /** `label`: a class index below `facts.maxClasses` (anything else throws a TypeError or RangeError). */
  addExample(image: ImageInput, label: number): Promise<number>;
  /** CIFAR-10 batches, CIFAR-100's train.bin / test.bin, or its fine_label_names.txt (no images). */
  addCifarBatch(file: Blob | ArrayBuffer | Uint8Array): Promise<number>;
  /** The classes the CIFAR files added name (CIFAR-10's or CIFAR-100's), or null. */
  exampleClasses(): Promise<string[] | null>;
  clearExamples(): Promise<void>;
  exampleCount(): Promise<number>;
  /** Resolves when fine-tuning would accept `names` as custom classes; rejects with code 'invalid-argument' and why. */
  checkClassNames(names: string[]): Promise<void>;
  /** For each name, the index of the same class among `known` (default: the model's classes) by the runtime's rule, or null. */
  matchClasses(names: string[], known?: string[]): Promise<(number | null)[]>;
  fineTune(options?: FineTuneOptions): FineTuneRun;
  terminate(): void;
}
