// The rules for the module's arguments, in one table that both sides of the worker boundary use:
// secnn.js checks a call before it is posted, and the worker checks it again, so callers that
// talk to the worker directly meet the same rules. A refusal is a TypeError (wrong type, unknown
// option or value) or a RangeError (out of range, not finite) naming the call, the parameter,
// the value given and what is allowed, with `code` 'invalid-argument' (secnn-protocol.js).
// What depends on the model (its class count, block widths, class limit) comes in `context`,
// from the runtime's facts: nothing here hard-codes the model.

import { ERROR_CODES, codedError } from './secnn-protocol.js';

const refuse = (Kind, message) => codedError(message, ERROR_CODES.invalidArgument, { Kind });

const show = (value) => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || ['number', 'boolean', 'undefined', 'bigint'].includes(typeof value)) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return 'a function';
  const kind = value.constructor === Object || !value.constructor ? 'object' : value.constructor.name;
  return `${/^[AEIOUaeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
};

/** A rule: `(value, context) => null` when allowed, else `[ErrorClass, 'what is allowed']`. */
const integer = (min, max) => (value, context) => {
  const [low, high] = [min, typeof max === 'function' ? max(context) : max];
  const allowed = `an integer from ${low} to ${high}`;
  if (typeof value !== 'number') return [TypeError, allowed];
  return Number.isInteger(value) && value >= low && value <= high ? null : [RangeError, allowed];
};
const number = (min, max, { aboveMin = false } = {}) => (value) => {
  const allowed = `a finite number ${aboveMin ? 'above' : 'from'} ${min} ${aboveMin ? 'and at most' : 'to'} ${max}`;
  if (typeof value !== 'number') return [TypeError, allowed];
  const inRange = Number.isFinite(value) && (aboveMin ? value > min : value >= min) && value <= max;
  return inRange ? null : [RangeError, allowed];
};
const oneOf = (...choices) => (value) => (choices.includes(value) ? null : [TypeError, `one of ${choices.map(show).join(', ')}`]);
const boolean = () => (value) => (typeof value === 'boolean' ? null : [TypeError, 'true or false']);
const callback = () => (value) => (typeof value === 'function' ? null : [TypeError, 'a function']);
const nullable = (rule) => (value, context) => (value === null ? null : rule(value, context));
const anything = () => () => null; // checked where it is used (images, weights, files)

/** `{ block, channel }`: a block counted from 1 and a channel of it (the widths from the facts). */
const blockChannel = () => (value, context) => {
  const widths = context.blockWidths ?? [];
  const allowed = `{ block, channel } with block an integer from 1 to ${widths.length || 'the block count'} and channel below that block's width (${widths.join(', ')})`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [TypeError, allowed];
  const { block, channel } = value;
  if (typeof block !== 'number' || typeof channel !== 'number' || Object.keys(value).some((k) => k !== 'block' && k !== 'channel')) return [TypeError, allowed];
  const width = widths[block - 1];
  return Number.isInteger(block) && Number.isInteger(channel) && width !== undefined && channel >= 0 && channel < width ? null : [RangeError, allowed];
};

const classCount = (context) => (context.classes ?? Infinity) - 1;
/** A block's channels: the narrowest block bounds how many maps each block can show. */
const narrowestBlock = (context) => Math.min(...(context.blockWidths ?? [Infinity]));

/**
 * Each call's options and their rules. `context`: `{ classes }` (the loaded model's class count)
 * and the runtime's facts (`blockWidths`, `maxClasses`, …).
 */
export const OPTIONS = {
  create: {
    backend: oneOf('auto', 'webgpu', 'cpu'),
    module: oneOf('cpu', 'threads', 'webgpu'),
    probe: boolean(),
    webgpu: oneOf('eager', 'on-demand'),
    weights: anything(),
    assetsUrl: anything(),
    workerUrl: anything(),
    wasm: anything(),
  },
  recreate: {
    backend: oneOf('auto', 'webgpu', 'cpu'),
    module: oneOf('cpu', 'threads', 'webgpu'),
    probe: boolean(),
    webgpu: oneOf('eager', 'on-demand'),
    weights: anything(),
  },
  classify: {
    topK: integer(1, 1000), // more than the classes lists them all
    tta: boolean(),
  },
  explain: {
    topK: integer(1, 1000),
    channels: integer(1, narrowestBlock),
    camClass: nullable(integer(0, classCount)),
    tta: boolean(),
    map: nullable(blockChannel()),
  },
  exportWeights: {
    format: oneOf('burnpack', 'safetensors', 'onnx'),
  },
  loadWeights: {
    sha256: anything(), // checked by secnn-fetch.js's checkSha256
    onProgress: callback(),
  },
  fineTune: {
    classes: anything(),
    epochs: integer(1, 1000),
    batchSize: integer(1, 1024),
    learningRate: number(0, 10, { aboveMin: true }),
    optimizer: oneOf('adam', 'adamw', 'sgd'),
    schedule: oneOf('plateau', 'onecycle', 'cosine', 'constant'),
    freeze: oneOf('none', 'head', 'head-attention'),
    augment: boolean(),
    validationSplit: number(0, 0.9),
    weightDecay: number(0, 1),
    dropout: number(0, 0.99),
    warmup: number(0, 1),
    labelSmoothing: number(0, 0.99),
    ema: number(0, 0.9999),
    cutout: integer(0, 1024),
    patience: integer(0, 1000),
    factor: number(0, 1, { aboveMin: true }),
    seed: integer(0, Number.MAX_SAFE_INTEGER),
    splitSeed: integer(0, Number.MAX_SAFE_INTEGER),
    probe: anything(),
    onPlan: callback(),
    onStep: callback(),
    onEpoch: callback(),
    onPause: callback(),
  },
};

/** Throws unless `options` (an object, or undefined) follows `OPTIONS[call]`. */
export function checkOptions(call, options, context = {}) {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw refuse(TypeError, `${call}: the options must be an object, not ${show(options)}`);
  }
  const rules = OPTIONS[call];
  for (const [name, value] of Object.entries(options)) {
    if (!rules[name]) {
      throw refuse(TypeError, `${call}: unknown option ${show(name)}; the options are ${Object.keys(rules).join(', ')}`);
    }
    if (value === undefined) continue;
    const refusal = rules[name](value, context);
    if (refusal) throw refuse(refusal[0], `${call}: ${name} must be ${refusal[1]}, not ${show(value)}`);
  }
}

/** Throws unless `label` is a class index below `limit` (the runtime's `maxClasses`). */
export function checkLabel(label, limit = Infinity) {
  const refusal = integer(0, limit - 1)(label);
  if (refusal) {
    throw refuse(refusal[0], `addExample: label must be a class index, ${refusal[1]}, not ${show(label)}: ` +
      'pass class names to fineTune({ classes }) and label each example with its name\'s index');
  }
}

/** Throws unless `classes` is null or an array of names. */
export function checkClasses(classes) {
  if (classes === null || classes === undefined) return;
  if (!Array.isArray(classes) || classes.some((name) => typeof name !== 'string')) {
    throw refuse(TypeError, `fineTune: classes must be an array of class names (strings), or null to keep the model's classes, not ${show(classes)}`);
  }
}

/** Throws unless `value` is a kind of thing the module can read an image from. */
export function checkImage(call, value) {
  const kinds = ['ImageData', 'ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'VideoFrame', 'Blob', 'ArrayBuffer', 'Uint8Array'];
  if (kinds.some((kind) => typeof globalThis[kind] === 'function' && value instanceof globalThis[kind])) return;
  throw refuse(TypeError, `${call}: image must be an ImageData, ImageBitmap, <img>, <canvas>, <video>, OffscreenCanvas, ` +
    `File or Blob, ArrayBuffer or Uint8Array, not ${show(value)}`);
}

/** Throws unless `value` is something weights can be read from (a URL, a Blob or bytes). */
export function checkWeights(call, value, { promise = false } = {}) {
  if (promise && value instanceof Promise) return; // checked once it settles
  if (typeof value === 'string' || value instanceof URL || value instanceof ArrayBuffer || value instanceof Uint8Array) return;
  if (typeof Blob === 'function' && value instanceof Blob) return;
  throw refuse(TypeError, `${call}: weights must be a URL, a File or Blob, an ArrayBuffer or a Uint8Array, not ${show(value)}`);
}

/** Throws unless `value` holds bytes: an ArrayBuffer, a Uint8Array or a Blob (a File). */
export function checkData(call, value) {
  if (value instanceof ArrayBuffer || value instanceof Uint8Array) return;
  if (typeof Blob === 'function' && value instanceof Blob) return;
  throw refuse(TypeError, `${call}: the data must be a Uint8Array, an ArrayBuffer or a Blob, not ${show(value)}`);
}
