// TensorFlow.js 4.22 reference for the secnn SE-CNN (same architecture as the
// PyTorch seed in tests/fixtures/make_pytorch_fixture.py), for browser
// benchmarks against the Rust/wasm build.
//
// The page must load TF.js as UMD globals first (tf.min.js, then
// tf-backend-wasm.min.js from bench/node_modules); this module only uses
// globalThis.tf so that it shares the page's single TF.js instance.

const tf = globalThis.tf;
if (!tf || !tf.layers) {
  throw new Error('tfjs-reference.js: load @tensorflow/tfjs (UMD) before importing this module');
}

// PyTorch counts BN gamma/beta as trainable, running stats as buffers; TF.js
// does the same split, so its trainable count must equal the seed's.
export const EXPECTED_TRAINABLE_PARAMS = 1150602;

const BLOCK_CHANNELS = [32, 64, 128];
const SE_REDUCTION = 16;

let wasmPathsSet = false;
let cached = null; // { backend, model }: variables live on the backend they were made on

const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const errorText = (e) => (e && e.message ? e.message : String(e));

// Yield to the event loop so long runs do not starve the page (and CDP).
const breathe = () => new Promise((r) => setTimeout(r, 0));

export async function useBackend(name) {
  try {
    if (name === 'wasm') {
      if (!tf.wasm) throw new Error('tf-backend-wasm UMD bundle is not loaded');
      // setWasmPaths throws once the backend has been initialised, so only once.
      if (!wasmPathsSet) {
        tf.wasm.setWasmPaths(new URL('../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url).href);
        // On an isolated page, as many threads as secnn's pool (TF.js's default is half the cores).
        if (globalThis.crossOriginIsolated && tf.wasm.setThreadsCount) tf.wasm.setThreadsCount(Math.min(8, navigator.hardwareConcurrency));
        wasmPathsSet = true;
      }
    }
    // setBackend resolves false (rather than throwing) when init fails, e.g. no WebGL/WebGPU.
    const ok = await tf.setBackend(name);
    await tf.ready();
    if (!ok || tf.getBackend() !== name) {
      throw new Error(`backend '${name}' could not be initialised` +
        (tf.findBackendFactory(name) ? '' : ' (not registered in this TF.js bundle)'));
    }
    if (cached && cached.backend !== name) disposeModel();
    const result = { backend: tf.getBackend(), ok: true, tfjsVersion: tf.version.tfjs };
    if (name === 'wasm') {
      result.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      // Threads also need cross-origin isolation (COOP/COEP) for SharedArrayBuffer.
      result.multithreadSupported = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      result.crossOriginIsolated = Boolean(globalThis.crossOriginIsolated);
      result.threads = tf.wasm.getThreadsCount ? tf.wasm.getThreadsCount() : null;
    }
    if (name === 'webgl') {
      // Tells a real GPU from SwiftShader/llvmpipe, which changes the numbers by orders of magnitude.
      try {
        const gl = tf.backend().gpgpu.gl;
        const ext = gl.getExtension('WEBGL_debug_renderer_info');
        result.renderer = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
      } catch { /* informational only */ }
    }
    return result;
  } catch (e) {
    return { ok: false, backend: name, error: errorText(e) };
  }
}

// Squeeze-and-excitation: per-channel gate from global context, multiplied back onto x.
function channelAttention(x, c, name) {
  let y = tf.layers.globalAveragePooling2d({ name: `${name}_gap` }).apply(x);
  y = tf.layers.dense({ units: c / SE_REDUCTION, useBias: false, activation: 'relu', name: `${name}_fc1` }).apply(y);
  y = tf.layers.dense({ units: c, useBias: false, activation: 'sigmoid', name: `${name}_fc2` }).apply(y);
  y = tf.layers.reshape({ targetShape: [1, 1, c], name: `${name}_reshape` }).apply(y);
  // Multiply broadcasts [b,1,1,c] over [b,h,w,c].
  return tf.layers.multiply({ name: `${name}_scale` }).apply([x, y]);
}

// Loss formulation: softmax on the last Dense + 'categoricalCrossentropy',
// i.e. the stock Layers path (no custom loss closure), which every backend
// that has the conv gradients can run. Mathematically the seed's
// CrossEntropyLoss on logits; the model therefore outputs probabilities.
export function buildModel() {
  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = input;
  BLOCK_CHANNELS.forEach((c, i) => {
    const n = `block${i + 1}`;
    x = tf.layers.conv2d({ filters: c, kernelSize: 3, padding: 'same', useBias: true, name: `${n}_conv` }).apply(x);
    // PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (= TF momentum 0.9).
    x = tf.layers.batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.9, name: `${n}_bn` }).apply(x);
    x = tf.layers.activation({ activation: 'relu', name: `${n}_relu` }).apply(x);
    x = channelAttention(x, c, `${n}_se`);
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${n}_pool` }).apply(x);
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x); // 4*4*128 = 2048 (NHWC order; irrelevant for timing)
  x = tf.layers.dense({ units: 512, activation: 'relu', name: 'fc1' }).apply(x);
  x = tf.layers.dropout({ rate: 0.5, name: 'dropout' }).apply(x);
  const output = tf.layers.dense({ units: 10, activation: 'softmax', name: 'fc2' }).apply(x);

  const model = tf.model({ inputs: input, outputs: output, name: 'secnn_se_cnn' });
  const trainable = countTrainableParams(model);
  if (trainable !== EXPECTED_TRAINABLE_PARAMS) {
    model.dispose();
    throw new Error(`trainable params ${trainable} != expected ${EXPECTED_TRAINABLE_PARAMS}`);
  }
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

export function countTrainableParams(model) {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
}

export function modelInfo() {
  const model = getModel();
  return {
    backend: tf.getBackend(),
    trainableParams: countTrainableParams(model),
    totalParams: model.countParams(),
    expectedTrainableParams: EXPECTED_TRAINABLE_PARAMS,
    loss: 'softmax output + categoricalCrossentropy (trainOnBatch)',
  };
}

// One model per backend, built lazily so callers can just switch backends.
export function getModel() {
  const backend = tf.getBackend();
  if (!cached || cached.backend !== backend) {
    disposeModel();
    cached = { backend, model: buildModel() };
  }
  return cached.model;
}

export function disposeModel() {
  if (cached) {
    cached.model.dispose();
    if (cached.model.optimizer) cached.model.optimizer.dispose();
    cached = null;
  }
}

async function predictAndRead(model, x) {
  const out = model.predict(x);
  await out.data(); // results back in JS, as a caller needs them
  out.dispose();
}

export async function inferenceLatency({ runs = 5, iterations = 50, warmup = 10 } = {}) {
  const model = getModel();
  const x = tf.randomNormal([1, 32, 32, 3]);
  const tensorsBefore = tf.memory().numTensors;
  try {
    for (let i = 0; i < warmup; i++) await predictAndRead(model, x);
    const runsMs = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) await predictAndRead(model, x);
      runsMs.push((performance.now() - t0) / iterations);
      await breathe();
    }
    return {
      backend: tf.getBackend(), medianMs: median(runsMs), runsMs, iterations, warmup,
      leakedTensors: tf.memory().numTensors - tensorsBefore,
    };
  } finally {
    x.dispose();
  }
}

function randomBatch(batch) {
  return tf.tidy(() => {
    const x = tf.randomNormal([batch, 32, 32, 3]);
    const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10).toFloat();
    return { x, y };
  });
}

// trainOnBatch is awaited: it reads the loss back each step, like the seed's loss.item().
// timeLimitMs bounds the whole call (warm-up included) at step granularity:
// a step is only started when the last step's duration still fits, so slow
// backends return fewer (possibly partial) runs instead of running for minutes.
// One measured step always runs (the warm-up step includes shader/kernel
// compilation and is no throughput figure), so the limit can be overshot by a step.
export async function trainingThroughput({ batch = 64, steps = 5, runs = 5, timeLimitMs = Infinity } = {}) {
  const start = performance.now();
  let model;
  try {
    model = getModel();
  } catch (e) {
    return { ok: false, backend: tf.getBackend(), error: errorText(e) };
  }
  const { x, y } = randomBatch(batch);
  try {
    let t = performance.now();
    try {
      await model.trainOnBatch(x, y); // warm-up: kernel/shader compilation, optimizer slots
    } catch (e) {
      // e.g. the wasm backend has no Conv2DBackpropFilter kernel.
      return { ok: false, backend: tf.getBackend(), error: errorText(e) };
    }
    let lastStepMs = performance.now() - t;
    const warmupMs = lastStepMs;
    // Adam slots appear on the first step; count leaks from here on.
    const tensorsAfterWarmup = tf.memory().numTensors;

    const runResults = [];
    let stoppedEarly = false;
    outer: for (let r = 0; r < runs; r++) {
      let done = 0;
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) {
        const anyStepDone = done > 0 || runResults.length > 0;
        if (anyStepDone && performance.now() - start + lastStepMs > timeLimitMs) {
          stoppedEarly = true;
          if (done > 0) runResults.push({ steps: done, imagesPerSecond: (batch * done * 1000) / (performance.now() - t0), partial: true });
          break outer;
        }
        t = performance.now();
        await model.trainOnBatch(x, y);
        lastStepMs = performance.now() - t;
        done++;
      }
      runResults.push({ steps: done, imagesPerSecond: (batch * done * 1000) / (performance.now() - t0) });
      await breathe();
    }

    const result = {
      ok: true,
      backend: tf.getBackend(),
      batch,
      stepsPerRun: steps,
      runsRequested: runs,
      runsDone: runResults.filter((r) => !r.partial).length,
      stoppedEarly,
      warmupStepMs: warmupMs,
      runs: runResults,
      elapsedMs: performance.now() - start,
      leakedTensors: tf.memory().numTensors - tensorsAfterWarmup,
    };
    // Partial runs count only when no complete run fitted in the time limit.
    const complete = runResults.filter((r) => !r.partial);
    const counted = complete.length > 0 ? complete : runResults;
    result.medianImagesPerSecond = median(counted.map((r) => r.imagesPerSecond));
    return result;
  } finally {
    x.dispose();
    y.dispose();
  }
}
