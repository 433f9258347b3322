// The messages between secnn.js (the caller's side) and secnn-worker.js, defined once for both.
//
// A call:     page → worker  { id, method, args }
// An answer:  worker → page  { id, result }  or  { id, error: { message, code, name, details }, fatal }
// Progress:   worker → page  { id, progress: { type: 'plan' | 'step' | 'paused', … } }  (fineTune)
// A control (pause, resume, cancel, finish) acts on the running fine-tune at once and is
// answered with { id, result: null }.

/** Controls: handled by the worker between fine-tuning steps, never queued behind them. */
export const CONTROLS = Object.freeze(['pause', 'resume', 'cancel', 'finish']);

/** The `type` of a fineTune call's progress messages. */
export const PROGRESS = Object.freeze({ plan: 'plan', step: 'step', paused: 'paused' });

/** How a fineTune call ended: its result is `{ status, info, kept }`. */
export const FINE_TUNE_STATUS = Object.freeze({ done: 'done', finishedEarly: 'finished early', cancelled: 'cancelled' });

/**
 * Every error the module raises carries one of these as `error.code` (the message is for
 * people; callers branch on the code). The runtime (Rust) sets most of them; the rest are raised
 * on this side of the boundary.
 */
export const ERROR_CODES = Object.freeze({
  invalidArgument: 'invalid-argument', // a TypeError or RangeError: a call's argument breaks its rule
  notAnImage: 'not-an-image',
  unsupportedFormat: 'unsupported-format', // an image format this browser cannot decode either
  imageTooLarge: 'image-too-large',
  invalidWeights: 'invalid-weights',
  corrupted: 'corrupted', // a file this crate wrote whose checksum (or a .pth entry's CRC-32) does not match its contents
  invalidFile: 'invalid-file', // e.g. a file that is not a CIFAR-10 binary batch
  fetchFailed: 'fetch-failed', // `details.reason`: 'cors-or-network', 'not-found', 'http', 'too-large'
  hashMismatch: 'hash-mismatch', // a fetched file is not the one its SHA-256 names: `details: { expected, actual }`
  busy: 'busy', // the call conflicts with the state (loading weights while fine-tuning, …)
  diverged: 'diverged', // `details: { loss, epoch }`; the weights from before fine-tuning were restored
  deviceLost: 'device-lost', // the compute device (GPU) failed
  webgpuUnavailable: 'webgpu-unavailable',
  runtimeLost: 'runtime-lost', // the worker crashed or was stopped: `recreate()` continues
  quotaExceeded: 'quota-exceeded', // the browser's storage is full: nothing was saved (`details.bytes`)
  storageUnavailable: 'storage-unavailable', // no IndexedDB here (a private window in some browsers)
  internal: 'internal',
});

const CODE_OF_NAME = { TypeError: ERROR_CODES.invalidArgument, RangeError: ERROR_CODES.invalidArgument };

/** An Error of class `Kind` (default Error) with `code` and, when given, `details`. */
export function codedError(message, code, { Kind = Error, details } = {}) {
  const error = new Kind(message);
  error.code = code;
  if (details !== undefined) error.details = details;
  return error;
}

/** What a failure becomes on the wire (structured clone keeps neither an Error's class nor its own properties everywhere). */
export function errorToMessage(error) {
  if (!(error instanceof Error)) return { message: String(error), code: ERROR_CODES.internal, name: 'Error' };
  const code = error.code ?? CODE_OF_NAME[error.name] ?? ERROR_CODES.internal;
  return { message: error.message, code, name: error.name, details: error.details ?? undefined };
}

/** The Error a wire failure stands for: TypeError and RangeError keep their class. */
export function errorFromMessage({ message, code, name, details }) {
  const Kind = { TypeError, RangeError }[name] ?? Error;
  return codedError(message, code ?? ERROR_CODES.internal, { Kind, details });
}

/**
 * Why the threaded CPU module cannot run here, or null: it needs shared memory (a cross-origin
 * isolated page: COOP/COEP) and Atomics.waitAsync for its async calls. Page and worker ask
 * the same.
 */
export function threadsRefusal() {
  if (!globalThis.crossOriginIsolated) return 'the page is not cross-origin isolated (COOP/COEP)';
  if (typeof Atomics.waitAsync !== 'function') return 'this browser has no Atomics.waitAsync';
  return null;
}

/** `promise`'s value, or `undefined` where `ms` pass first. */
export const within = (promise, ms) => Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);
