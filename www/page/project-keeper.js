// Keeps the Fine-tune panel's work as it changes (project-store.js), and treats the browser's
// storage as the real resource it is:
// - one tab keeps the work: it holds a Web Lock for its lifetime; a second tab of the page says
//   the work is open elsewhere, keeps nothing, and offers to take over once the first has closed;
// - the first time something is kept, the page asks for persistent storage, and shows how much
//   it uses;
// - a full quota is named (what was kept, what was not) and the page keeps working;
// - leaving while a fine-tune runs, or while a change is not stored yet, asks first.
// Nothing is written until the visitor has made something (a photo, a class, a setting, a run).
import { $ } from './page-dom.js';
import { showAlert } from './page-alerts.js';
import { tuning } from './page-state.js';
import { ProjectStore, StorageFullError } from './project-store.js';
import { readSettings } from './tune-settings.js';

const LOCK = 'secnn-project';
const FORMAT = 'secnn-project';

let store = null; // the ProjectStore while this tab keeps the work, else null
let writes = Promise.resolve(); // the writes, one after another, in the order made
let pending = 0;
/** Something was made but could not be kept (a full storage): leaving would lose it. */
let unkept = false;
let started = false; // the visitor has made something (or a project was restored)
let projectTimer = null;
/** The model of the last kept epoch (a burnpack), for a restart after the worker died. */
let lastWeights = null;

/** Whether this tab keeps the work (it holds the lock and the storage opened). */
export const keeping = () => store !== null;

/** The weights of the last kept epoch or run (a burnpack), or null. */
export const keptWeights = () => lastWeights;

/** A record for the list of what could not be kept. */
function describeFailure(error, what) {
  if (error instanceof StorageFullError) {
    unkept = true;
    showAlert(`The browser's storage is full: ${what} was not kept. Everything kept before is safe; ` +
      'free some space, or use Save project to keep all of it in a file.');
  } else {
    showAlert(`Could not keep ${what}: ${error.message}`);
  }
}

/** Queues `write(store)`; a failure is named and does not stop the page. */
function keep(what, write) {
  if (!store) return Promise.resolve();
  started = true;
  pending++;
  writes = writes.then(() => write(store)).then(afterKeep, (error) => describeFailure(error, what)).finally(() => { pending--; });
  return writes;
}

let persistAsked = false;

/**
 * Asks once for persistent storage. Not awaited by the writes: Firefox asks the visitor, and
 * its answer may never come (the prompt dismissed, a headless browser).
 */
function askToPersist() {
  if (persistAsked || !navigator.storage?.persist) return;
  persistAsked = true;
  navigator.storage.persist().then((persisted) => {
    $('storage-persisted').textContent = persisted ? 'kept until you clear it'
      : 'the browser may clear it if space runs short; Save project keeps a copy';
  }, () => {});
}

/** After a write: persistent storage asked for (once), and the usage shown. */
async function afterKeep() {
  askToPersist();
  await showUsage();
}

async function showUsage() {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  $('storage-usage').textContent = estimate ? `${megabytes(estimate.usage ?? 0)} used of ${megabytes(estimate.quota ?? 0)}` : '';
  $('work-saved').textContent = `saved ${new Date().toLocaleTimeString()}`;
}

/** The project's description: classes in label order, the data kind, the settings. */
function projectRecord() {
  return {
    key: 'project', format: FORMAT, version: 1, savedAt: new Date().toISOString(),
    classes: tuning.customClasses.map(({ id, name }) => ({ id, name })),
    mode: $('mode-cifar').checked ? 'cifar' : 'custom',
    settings: readSettings(),
    perClassLimit: Number($('per-class-limit').value) || 200,
  };
}

function writeProject() {
  clearTimeout(projectTimer);
  projectTimer = null;
  return keep('the class list and settings', (s) => s.put('meta', projectRecord(), 'the class list and settings'));
}

/** Keeps the project's description soon (several changes in a row make one write). */
export function keepProject() {
  if (!store) return;
  started = true;
  clearTimeout(projectTimer);
  projectTimer = setTimeout(writeProject, 250);
}

/** Keeps a photo record (photo-prep.js made it), and the class list it belongs to. */
export function keepPhoto(record) {
  keepProject();
  return keep(`the photo ${record.name}`, (s) => s.putPhoto(record, `the photo ${record.name}`));
}

/** Forgets a removed class and its photos. */
export function forgetClass(id) {
  keepProject();
  return keep('the class removal', (s) => s.deleteClass(id));
}

/** Keeps the CIFAR-10 selection of `kind` ('folder' or 'binary'): `[{ file, label }]`. */
export function keepCifarFiles(kind, entries) {
  keepProject();
  const records = entries.map(({ file, label }, i) => ({ id: `${kind}-${i}`, kind, label, name: file.name, path: file.webkitRelativePath ?? '', blob: file }));
  return keep(`the CIFAR-10 ${kind === 'folder' ? 'images' : 'files'}`, (s) => s.replace('files', (r) => r.kind === kind, records, 'the CIFAR-10 selection'));
}

/** Keeps the model (a burnpack) and which epoch it is: after every kept epoch, and at a run's end. */
export function keepWeights(bytes, { kept = null, status = 'running', classes }) {
  lastWeights = bytes;
  return keep('the fine-tuned model', (s) => s.put('meta', { key: 'weights', bytes, kept, status, classes, savedAt: new Date().toISOString() }, 'the fine-tuned model'));
}

/** Keeps the run's history (charts, tables, SE history): with the weights, after every epoch and at the end. */
export function keepHistory(history) {
  return keep('the run\'s charts', (s) => s.put('meta', { key: 'history', ...history, savedAt: new Date().toISOString() }, 'the run\'s charts'));
}

/** Forgets the fine-tuned model (the visitor went back to the shipped one, or loaded another file). */
export function forgetWeights() {
  lastWeights = null;
  return keep('the change of model', (s) => s.delete('meta', 'weights'));
}

/** Forgets everything kept. */
export async function forgetAll() {
  await writes;
  await store?.clear();
  lastWeights = null;
}

/** Work under way elsewhere that ends in a keep (a run's end reads its weights first). */
const tracked = new Set();

/** Counts `promise` as a change not stored yet until it settles (leaving warns meanwhile). */
export function track(promise) {
  tracked.add(promise);
  pending++;
  promise.catch(() => {}).finally(() => { tracked.delete(promise); pending--; });
  return promise;
}

/** Resolves once every change made so far is stored (or failed). */
export async function settled() {
  for (;;) {
    if (projectTimer) writeProject();
    const waiting = [...tracked];
    await Promise.allSettled([writes, ...waiting]);
    if (!projectTimer && tracked.size === 0) return writes;
  }
}

/**
 * Warns before leaving while a fine-tune runs, while a change waits to be stored, or when
 * something could not be kept.
 */
function guardLeaving() {
  window.addEventListener('beforeunload', (event) => {
    if (!tuning.run && pending === 0 && !projectTimer && !unkept) return;
    event.preventDefault();
    event.returnValue = ''; // older browsers need it set
  });
}

/** Says this tab does not keep the work, and takes over when the tab that does closes. */
function followOtherTab() {
  $('work-elsewhere').hidden = false;
  navigator.locks.request(LOCK, () => {
    $('work-elsewhere').hidden = true;
    showAlert('The other tab with this page closed: reload to continue your kept work here.', {
      kind: 'info', action: { label: 'Reload', run: () => location.reload() },
    });
    return new Promise(() => {}); // held until this tab closes
  });
}

/** The lock that makes this tab the one that keeps the work: true when granted at once. */
function takeLock() {
  if (!navigator.locks) return Promise.resolve(true); // old browsers: one tab assumed
  return new Promise((resolve) => {
    navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
      resolve(Boolean(lock));
      return lock ? new Promise(() => {}) : null; // a granted lock is held for the tab's lifetime
    });
  });
}

/**
 * Opens the storage when this tab may keep the work. Resolves with what was kept (project,
 * weights, history, photos, files), or null when nothing can be (another tab keeps it, or
 * there is no storage).
 */
export async function openKeeper() {
  guardLeaving();
  if (!(await takeLock())) {
    followOtherTab();
    return null;
  }
  try {
    store = await ProjectStore.open();
  } catch (error) {
    $('storage-usage').textContent = `nothing is kept here: ${error.message}`;
    return null;
  }
  const kept = await store.load();
  started = Boolean(kept.project);
  lastWeights = kept.weights?.bytes ?? null;
  if (started) showUsage();
  return kept;
}

/** Whether the visitor has made anything kept (a restored project counts). */
export const hasWork = () => started;
