// Type declarations for www/secnn.js — the secnn browser module.

export type Backend = 'auto' | 'webgpu' | 'cpu';
export type ImageInput =
  | ImageData | ImageBitmap | HTMLImageElement | HTMLCanvasElement | HTMLVideoElement | OffscreenCanvas
  | Blob | ArrayBuffer | Uint8Array;
export type WeightsInput = string | Blob | ArrayBuffer | Uint8Array;

export interface BackendInfo {
  /** The backend in use. */
  backend: 'webgpu' | 'cpu';
  /** Adapter name (WebGPU) or "CPU (Burn flex, wasm SIMD128)". */
  adapter: string;
  /** Why 'auto' fell back to the CPU, if it did. */
  fallbackReason: string | null;
}

export interface ModelInfo {
  format: number;
  name: string;
  description: string;
  /** Class names; index = output index. */
  classes: string[];
  accuracy: number | null;
  accuracyOn: string | null;
  widths: [number, number, number];
  reduction: number;
  hidden: number;
  /** How the file stores convolution and linear weights (the model always runs in f32). */
  storage: 'f32' | 'f16';
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
  /** SE weights of the probe image after this step, one array per block. */
  probeSeWeights: number[][] | null;
  epochEnd: EpochReport | null;
  done: boolean;
}

export interface FineTunePlan {
  trainImages: number;
  validationImages: number;
  stepsPerEpoch: number;
  totalSteps: number;
  classes: string[];
  headReinitialised: boolean;
  usesFeatureCache: boolean;
}

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
  labelSmoothing?: number;
  seed?: number;
  /** Image whose SE weights are reported after every step. */
  probe?: ImageData | HTMLImageElement | ImageBitmap | HTMLCanvasElement | null;
  onPlan?: (plan: FineTunePlan) => void;
  onStep?: (report: StepReport) => void;
  onEpoch?: (report: EpochReport) => void;
  onPause?: () => void;
}

export interface FineTuneRun {
  done: Promise<{ status: 'done' | 'cancelled' | 'finished early'; info: ModelInfo }>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  finish(): Promise<void>;
}

/** The worker's wasm instance crashed (or was terminated); call `recreate()`. */
export class RuntimeLostError extends Error {}

export class SeCnn {
  backend: BackendInfo | null;
  info: ModelInfo | null;
  constructor(workerUrl?: URL);
  /** `wasm`: the bytes of pkg/secnn_bg.wasm, when the page fetched them itself (default: the worker fetches). */
  static create(options?: { backend?: Backend; weights?: WeightsInput; wasm?: ArrayBuffer | Uint8Array; workerUrl?: URL }): Promise<SeCnn>;
  recreate(options?: { backend?: Backend; weights?: WeightsInput; wasm?: ArrayBuffer | Uint8Array }): Promise<SeCnn>;
  classify(image: ImageInput, options?: { topK?: number }): Promise<Classified>;
  explain(image: ImageInput, options?: { topK?: number; channels?: number; camClass?: number | null }): Promise<Explained>;
  loadWeights(weights: WeightsInput): Promise<ModelInfo>;
  exportWeights(): Promise<Uint8Array>;
  addExample(image: ImageInput, label: number): Promise<number>;
  addCifarBatch(file: Blob | ArrayBuffer | Uint8Array): Promise<number>;
  clearExamples(): Promise<void>;
  exampleCount(): Promise<number>;
  fineTune(options?: FineTuneOptions): FineTuneRun;
  terminate(): void;
}
