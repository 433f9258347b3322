// One thread of the threaded CPU module's pool (rayon's), started by the page's side of secnn
// (secnn-backends.js) beside the model's worker, not by that worker (why:
// kernels/src/pool_threads.rs). It starts an instance of the model worker's compiled module on the same shared memory, says
// that it waits, and becomes one of the pool's threads when the model's worker builds the pool:
// from then on it never returns to this event loop.
import init, { run_pool_thread } from './pkg-threads/secnn.js';

self.onmessage = async ({ data: { module, memory } }) => {
  self.onmessage = null;
  try {
    await init({ module_or_path: module, memory });
  } catch (error) {
    postMessage({ error: `its module did not start: ${error?.message ?? error}` });
    return;
  }
  postMessage({ waiting: true });
  run_pool_thread();
};
