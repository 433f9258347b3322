// The threaded CPU module's pool on the page's side: its workers (secnn-pool-worker.js), started
// here beside each model worker, which builds rayon's pool on them, and stopped with it. The page
// starts them, not the model's worker: in Firefox 153 ESR a `new Worker` inside a worker
// sometimes never returned, and the model's worker hung for good (kernels/src/pool_threads.rs).
import { HERE, isCrossOrigin, movedWorker } from './secnn-assets.js';
import { within } from './secnn-protocol.js';

/**
 * A worker of the threaded module's pool (secnn-pool-worker.js), beside the model's worker:
 * beside `workerUrl` where that is moved, else the literal URL bundlers follow.
 */
function newPoolWorker(workerUrl) {
  if (workerUrl) return movedWorker(new URL('secnn-pool-worker.js', workerUrl).href);
  if (isCrossOrigin(HERE)) return movedWorker(new URL('secnn-pool-worker.js', HERE).href);
  return new Worker(new URL('./secnn-pool-worker.js', import.meta.url), { type: 'module' });
}

/** The pool workers started for each model worker, stopped with it. */
const poolWorkers = new WeakMap();
/** Model workers stopped (a pool whose start finishes after its worker stopped is stopped too). */
const stoppedWorkers = new WeakSet();

/** Stops a model worker and its pool's workers. */
export function stopWorker(worker) {
  if (!worker) return;
  stoppedWorkers.add(worker);
  worker.terminate();
  for (const helper of poolWorkers.get(worker) ?? []) helper.terminate();
}

/** A pool whose workers do not all wait for their share of it (a script refused) is given up after this. */
const POOL_TIMEOUT_MS = 20_000;

/**
 * Starts `threads` pool workers on a model worker's compiled `module` and shared `memory`:
 * resolves with them once each waits for its share of rayon's pool, which the model worker then
 * builds on them (`startThreads`).
 */
export async function startPoolWorkers({ module, memory, threads }, workerUrl) {
  const helpers = Array.from({ length: threads }, () => newPoolWorker(workerUrl));
  const waiting = Promise.all(helpers.map((helper) => new Promise((resolve, reject) => {
    helper.onmessage = ({ data }) => (data?.error ? reject(new Error(data.error)) : resolve());
    helper.onerror = (event) => {
      event.preventDefault?.();
      reject(new Error(`a pool worker failed: ${event.message || 'unknown error'}`));
    };
    helper.postMessage({ module, memory });
  })));
  waiting.catch(() => {}); // a rejection after the timeout below is no news
  try {
    if (!(await within(waiting.then(() => true), POOL_TIMEOUT_MS))) throw new Error(`its workers did not start within ${POOL_TIMEOUT_MS / 1000} s`);
    return helpers;
  } catch (error) {
    for (const helper of helpers) helper.terminate();
    throw error;
  }
}

/**
 * Keeps `helpers` as `worker`'s pool, stopped with it; where `worker` stopped meanwhile, stops
 * them instead and returns false.
 */
export function adoptPool(worker, helpers) {
  if (stoppedWorkers.has(worker)) {
    for (const helper of helpers) helper.terminate();
    return false;
  }
  poolWorkers.set(worker, helpers);
  return true;
}
