// Where the model runs, behind the public API of secnn.js: the model's worker and its calls, the
// threaded module's pool, the WebGPU module loaded beside the CPU one and the switch between them,
// and, where one image classifies faster on the backend that does not fine-tune, the other worker
// kept beside it as the classifier.
// secnn.js checks arguments and words the API; this module only routes calls to workers.

import { HERE, isCrossOrigin, movedWorker } from './secnn-assets.js';
import { adoptPool, startPoolWorkers, stopWorker } from './secnn-pool.js';
import { ERROR_CODES, codedError, errorFromMessage, threadsRefusal, within } from './secnn-protocol.js';

/** Raised when the worker's wasm instance crashed (code 'runtime-lost'); call `recreate()` to continue. */
export class RuntimeLostError extends Error {
  code = ERROR_CODES.runtimeLost;
}

/** The runtime's worker: `url` when overridden, else the literal URL bundlers follow. */
function newWorker(url) {
  if (url) return movedWorker(url);
  if (isCrossOrigin(HERE)) return movedWorker(new URL('secnn-worker.js', HERE).href);
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

/** The threaded module's pool starts after the first classification, or this long after `create`. */
const POOL_DELAY_MS = 2000;

/** Batch-1 classifications timed on each backend before 'auto' picks where to classify (the first two warm up). */
const PROBE_RUNS = 7;

/**
 * Training steps timed on each backend before 'auto' picks where to fine-tune: a warm-up step
 * of two images (WebGPU compiles its shaders there), then `timed`, each step as the heaviest
 * fine-tune does (everything trains, augmented).
 */
const TRAINING_PROBE = { warmUp: { batch: 2, steps: 1 }, timed: { batch: 16, steps: 3 } };

/** How long WebGPU's warm-up step (shader compilation included) may take before the CPU wins without it. */
const WARM_UP_LIMIT_MS = 20000;

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The CPU build a page runs: the threaded one where it can run (`threadsRefusal`) and there is
 * more than one core, else the single-threaded one.
 */
const cpuBuild = () => ((globalThis.navigator?.hardwareConcurrency ?? 1) > 1 && !threadsRefusal() ? 'threads' : 'cpu');

/**
 * The workers behind one SeCnn. `owner` hears of changes: `backendChanged(backend)` and
 * `infoChanged(info)` (the weights moved to another worker), and gives `facts()` (the probe
 * needs the input size).
 */
export class Backends {
  #owner;
  #assets;
  #worker = null;
  #pending = new Map(); // id -> { resolve, reject, onProgress, worker, promise }
  #nextId = 1;
  /** Resolves when a backend switch in progress lets calls through again. */
  #gate = Promise.resolve();
  /** The fine-tuning run in progress (a switch waits for it), or null. */
  #fineTuning = null;
  #generation = 0;
  /** The other backend's worker, classifying where one image measured faster there, or null. */
  #classifier = null;
  #probe = true;
  /** Resolves the wait of the threaded module's pool after the first classification, or null. */
  #predicted = null;
  /** Settles once the threaded module's pool has started (or failed to); at once on other builds. */
  #poolStarting = Promise.resolve();
  /** The generation whose WebGPU switch waits for a sign of intent (`webgpu: 'on-demand'`), or null. */
  #deferredSwitch = null;
  backend = null;

  constructor(owner, assets) {
    this.#owner = owner;
    this.#assets = assets;
  }

  /**
   * (Re)starts the worker on `build` (by default the one `backend` calls for) with `weights`
   * (bytes or a URL, maybe a promise of them): `{ info, facts }` once it runs.
   */
  async start({ backend, module, probe, webgpu }, weights) {
    const generation = ++this.#generation; // a switch started before this is abandoned
    this.#deferredSwitch = null;
    this.#probe = probe;
    this.#dropClassifier();
    stopWorker(this.#worker);
    this.#failAll(new RuntimeLostError('the runtime was restarted'));
    this.#worker = startWorker((data, worker) => this.#receive(data, worker), this.#assets.worker);
    const build = module ?? (backend === 'webgpu' ? 'webgpu' : cpuBuild());
    const worker = this.#worker;
    // The worker imports its bindings at once, and downloads and compiles the runtime (off the
    // page's thread) as soon as its wasm is known, while the weights (maybe a promise) download.
    this.callOn(worker, 'prepare', { module: build }).catch(() => {});
    // The threaded build falls back to the single-threaded one's wasm where it cannot start.
    const fallback = build === 'threads' ? this.#assets.wasm.cpu : undefined;
    const loading = Promise.all([this.#assets.wasm[build], fallback]).then(([wasm, fallbackWasm]) => {
      // A worker replaced meanwhile would never answer.
      if (generation !== this.#generation) throw new RuntimeLostError('the runtime was restarted');
      return this.callOn(worker, 'prepare', { module: build, load: true, wasm, fallbackWasm });
    });
    const [weightBytes] = await Promise.all([weights, loading]);
    if (generation !== this.#generation) throw new RuntimeLostError('the runtime was restarted');
    // On a CPU-only build, 'auto' opens the CPU at once and the switch below adds WebGPU.
    const cpuOnly = build !== 'webgpu';
    const opened = await this.call('create', { backend: cpuOnly ? 'cpu' : backend, module: build, weights: weightBytes });
    this.#poolStarting = opened.backend.module === 'threads' ? this.#startThreads(worker) : Promise.resolve();
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
    return { info: opened.info, facts: opened.facts };
  }

  /** Starts loading the WebGPU module now, where `webgpu: 'on-demand'` deferred it; else nothing. */
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
      const helpers = await startPoolWorkers(await this.callOn(worker, 'poolParts'), this.#assets.worker);
      if (!adoptPool(worker, helpers)) return;
      const { adapter, threads } = await this.callOn(worker, 'startThreads', { threads: helpers.length });
      if (worker === this.#worker && this.backend?.module === 'threads') this.#setBackend({ ...this.backend, adapter, threads });
    } catch (error) {
      if (worker === this.#worker) console.warn(`secnn: the thread pool did not start (${error?.message ?? error}); the CPU module runs on one thread`);
    }
  }

  #dropClassifier() {
    stopWorker(this.#classifier);
    if (this.#classifier) this.#failAll(codedError('the classifier was stopped', ERROR_CODES.runtimeLost), this.#classifier);
    this.#classifier = null;
  }

  /**
   * Training images per second on `worker` (TRAINING_PROBE). Against `rival` (the CPU's figure)
   * the timing stops once `worker` is sure to be slower: `{ imagesPerSecond, stopped: true }`,
   * the figure then an upper bound.
   */
  async #trainingSpeed(worker, rival = null) {
    const { warmUp, timed } = TRAINING_PROBE;
    const run = (args, limitMs) => {
      const call = this.callOn(worker, 'timeTraining', args);
      return limitMs === undefined ? call : within(call, limitMs);
    };
    const stopped = ({ batch, steps }, ms) => ({ imagesPerSecond: (batch * steps * 1000) / ms, stopped: true });
    if (!(await run(warmUp, rival ? WARM_UP_LIMIT_MS : undefined))) return stopped(warmUp, WARM_UP_LIMIT_MS);
    // Once it has taken longer than the rival took for the same steps, it has lost.
    const limitMs = rival ? (timed.batch * timed.steps * 1000) / rival.imagesPerSecond + 50 : undefined;
    const result = await run(timed, limitMs);
    if (!result) return stopped(timed, limitMs);
    return { imagesPerSecond: (result.images * 1000) / result.milliseconds, stopped: false };
  }

  /**
   * What 'auto' chooses by: one-image classification (median ms) and training (images/s) on
   * WebGPU (`next`) and on the CPU (the current worker, on all its threads).
   */
  async #measure(next) {
    const webgpuMs = await this.#batchOneMilliseconds(next);
    const cpuMs = await this.#batchOneMilliseconds(this.#worker);
    await this.#poolStarting;
    const cpu = await this.#trainingSpeed(this.#worker);
    const webgpu = await this.#trainingSpeed(next, cpu);
    return { webgpuMs, cpuMs, training: { cpu: cpu.imagesPerSecond, webgpu: webgpu.imagesPerSecond, webgpuStopped: webgpu.stopped } };
  }

  /** Median milliseconds of a one-image classification on `worker`, as the runtime times it. */
  async #batchOneMilliseconds(worker) {
    const times = [];
    for (let run = 0; run < PROBE_RUNS; run++) {
      const side = this.#owner.facts().inputSize; // an image the model takes as it is, so only the model is timed
      const rgba = new Uint8Array(side * side * 4).fill(128);
      const { milliseconds } = await this.callOn(worker, 'classify', { rgba, width: side, height: side, topK: 1, tta: false });
      if (run >= 2) times.push(milliseconds);
    }
    return median(times);
  }

  #setBackend(backend) {
    this.backend = backend;
    this.#owner.backendChanged(backend);
  }

  /** Loads the WebGPU module beside the running one, then switches between calls. */
  async #switchToWebGpu(generation) {
    const next = startWorker((data, worker) => this.#receive(data, worker), this.#assets.worker);
    try {
      if (!(await navigator.gpu.requestAdapter())) throw new Error('the browser granted no WebGPU adapter');
      const weights = await this.call('exportWeights', {});
      const opened = await this.callOn(next, 'create', { backend: 'webgpu', module: 'webgpu', weights, wasm: await this.#assets.wasm.webgpu });
      await this.callOn(next, 'ready'); // shaders compiled by the warm-up
      const probe = this.#probe ? await this.#measure(next) : null;
      while (this.#fineTuning) await this.#fineTuning.catch(() => {});
      if (generation !== this.#generation) throw new Error('the runtime was restarted');
      // Fine-tuning goes where it measured faster; without timings, to WebGPU.
      const gpuTrains = !probe || (!probe.training.webgpuStopped && probe.training.webgpu > probe.training.cpu);
      let open;
      this.#gate = new Promise((resolve) => { open = resolve; });
      try {
        if (gpuTrains) {
          await this.#handOver(next, probe);
          this.#setBackend({ ...opened.backend, loading: null, classifier: this.#classifier ? 'cpu' : null, probe });
        } else {
          await this.#stayOnCpu(next, probe);
          this.#setBackend({ ...this.backend, loading: null, classifier: this.#classifier ? 'webgpu' : null, probe });
        }
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

  /**
   * Between calls: the old worker finishes what it has, then hands its weights and examples to
   * `next`; it stays as the classifier where the probe measured the CPU faster.
   */
  async #handOver(next, probe) {
    const old = this.#worker;
    while ([...this.#pending.values()].some((call) => call.worker === old)) {
      await Promise.allSettled([...this.#pending.values()].filter((c) => c.worker === old).map((c) => c.promise));
    }
    const [current, examples] = await Promise.all([this.callOn(old, 'exportWeights'), this.callOn(old, 'exportExamples')]);
    const info = await this.callOn(next, 'loadWeights', { weights: current });
    if (examples.length) await this.callOn(next, 'addCifarBatch', { bytes: examples, name: 'examples' });
    this.#worker = next;
    if (probe && probe.cpuMs < probe.webgpuMs) {
      this.#classifier = old; // keeps the same weights; its examples now live in `next`
      await this.callOn(old, 'clearExamples');
    } else {
      stopWorker(old);
    }
    this.#owner.infoChanged(info);
  }

  /**
   * The CPU trains faster, so its worker stays; WebGPU (`next`) stays only as the classifier,
   * with the current weights, where one image classified faster there (and its timed steps
   * finished: a stopped one would hold the gate until they do).
   */
  async #stayOnCpu(next, probe) {
    if (probe.webgpuMs < probe.cpuMs && !probe.training.webgpuStopped) {
      await this.callOn(next, 'loadWeights', { weights: await this.callOn(this.#worker, 'exportWeights') });
      this.#classifier = next;
    } else {
      next.terminate();
      this.#failAll(codedError('WebGPU trained slower than the CPU', ERROR_CODES.runtimeLost), next);
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
      // The classifier is a convenience: without it, the main worker classifies.
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
      stopWorker(this.#worker);
      this.#worker = null;
      this.#failAll(new RuntimeLostError(error.message));
      call.reject(new RuntimeLostError(`${error.message} — the model runtime crashed; call recreate() to continue`));
    } else {
      call.reject(errorFromMessage(error)); // keeps its code, and TypeError / RangeError their class
    }
  }

  /** A call on the current worker, once no backend switch holds the gate. */
  async call(method, args, options) {
    await this.#gate;
    if (!this.#worker) throw new RuntimeLostError('no runtime: call recreate()');
    return this.callOn(this.#worker, method, args, options);
  }

  /** A classification: on the classifier where it measured faster, else the current worker. */
  async classifyCall(method, args, options) {
    await this.#gate;
    try {
      if (this.#classifier) return await this.callOn(this.#classifier, method, args, options);
      return await this.call(method, args, options);
    } finally {
      this.#predicted?.();
    }
  }

  /** New weights for the classifier too, where one runs beside the current worker. */
  async loadWeightsEverywhere(weights) {
    const info = await this.call('loadWeights', { weights });
    if (this.#classifier) await this.callOn(this.#classifier, 'loadWeights', { weights });
    return info;
  }

  /** Gives the classifier the current worker's weights (after they changed there). */
  async syncClassifier() {
    const classifier = this.#classifier;
    if (!classifier) return;
    const weights = await this.call('exportWeights');
    if (classifier === this.#classifier) await this.callOn(classifier, 'loadWeights', { weights });
  }

  /** A fine-tune's call, then `after` with its result: a backend switch waits until both are done. */
  fineTune(args, onProgress, after) {
    const done = this.call('fineTune', args, { onProgress }).then(after);
    this.#fineTuning = done;
    done.finally(() => { if (this.#fineTuning === done) this.#fineTuning = null; }).catch(() => {});
    return done;
  }

  callOn(worker, method, args, { onProgress, transfer = [] } = {}) {
    const id = this.#nextId++;
    let settle;
    const promise = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    this.#pending.set(id, { ...settle, onProgress, worker, promise });
    worker.postMessage({ id, method, args }, transfer);
    return promise;
  }

  /** Stops the worker (and a WebGPU module still loading). */
  terminate() {
    this.#generation++;
    this.#dropClassifier();
    stopWorker(this.#worker);
    this.#worker = null;
    this.#failAll(new RuntimeLostError('terminated'));
  }
}
