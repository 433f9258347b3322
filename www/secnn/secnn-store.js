// Models kept in the browser's own storage, in TF.js's convention: `model.save('indexeddb://name')`,
// `SeCnn.create({ weights: 'indexeddb://name' })`, `loadWeights('indexeddb://name')`,
// `SeCnn.listSaved()` and `SeCnn.removeSaved(name)`. A saved model is its burnpack, whose checksum
// the runtime verifies on every load, so a damaged copy is refused rather than used.
// `request`/`openDatabase` are the small promise wrappers over IndexedDB that the page's own
// store (www/page/project-store.js) uses too.

import { ERROR_CODES, codedError } from './secnn-protocol.js';

export const SCHEME = 'indexeddb://';
const DATABASE = 'secnn-models';
const MODELS = 'models';

/** The result of an IndexedDB request (or a transaction's completion) as a promise. */
export function request(req) {
  return new Promise((resolve, reject) => {
    if (req instanceof IDBTransaction) {
      req.oncomplete = () => resolve();
      req.onabort = req.onerror = () => reject(req.error ?? new DOMException('the transaction was aborted', 'AbortError'));
      return;
    }
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Opens `name` at `version`, `upgrade(db, oldVersion)` creating its stores. Resolves with the
 * database, which closes itself when another tab needs a newer version.
 */
export async function openDatabase(name, version, upgrade) {
  if (typeof indexedDB === 'undefined') throw codedError('this browser has no IndexedDB', ERROR_CODES.storageUnavailable);
  const opening = indexedDB.open(name, version);
  opening.onupgradeneeded = (event) => upgrade(opening.result, event.oldVersion);
  const db = await request(opening).catch((error) => {
    throw codedError(`the browser's storage could not be opened: ${error?.message ?? error}`, ERROR_CODES.storageUnavailable);
  });
  db.onversionchange = () => db.close();
  return db;
}

/** True for a quota error from any browser (Chromium, Firefox and WebKit name it alike). */
export const isQuotaError = (error) => error?.name === 'QuotaExceededError' || error?.code === 22;

/** `'indexeddb://name'` → `'name'`, or null for anything else. */
export function savedName(url) {
  if (typeof url !== 'string' || !url.startsWith(SCHEME)) return null;
  return url.slice(SCHEME.length);
}

/** The name a caller gave, checked: 1 to 200 characters after the scheme. */
export function checkName(call, url) {
  const name = savedName(url);
  if (name === null || name.length === 0 || name.length > 200) {
    throw codedError(`${call}: the URL must be '${SCHEME}<name>' with a name of 1 to 200 characters, not ${JSON.stringify(url)}`,
      ERROR_CODES.invalidArgument, { Kind: TypeError });
  }
  return name;
}

const openModels = () => openDatabase(DATABASE, 1, (db) => db.createObjectStore(MODELS, { keyPath: 'name' }));

async function withModels(mode, action) {
  const db = await openModels();
  try {
    const transaction = db.transaction(MODELS, mode);
    const result = await request(action(transaction.objectStore(MODELS)));
    await request(transaction);
    return result;
  } finally {
    db.close();
  }
}

/** Keeps `bytes` (a burnpack) under `name`; `info` is the model's description. */
export async function saveModel(name, bytes, info) {
  const record = { name, bytes, savedAt: new Date().toISOString(), modelName: info.name, classes: info.classes };
  try {
    await withModels('readwrite', (store) => store.put(record));
  } catch (error) {
    if (!isQuotaError(error)) throw error;
    throw codedError(`the browser's storage is full: ${SCHEME}${name} (${bytes.length} bytes) was not saved`,
      ERROR_CODES.quotaExceeded, { details: { bytes: bytes.length } });
  }
  return describe(record);
}

/** The bytes kept under `name`; refused with code 'fetch-failed' when there are none. */
export async function loadModel(name) {
  const record = await withModels('readonly', (store) => store.get(name));
  if (!record) {
    throw codedError(`no model is saved as ${SCHEME}${name} (SeCnn.listSaved() lists them)`, ERROR_CODES.fetchFailed);
  }
  return record.bytes;
}

const describe = ({ name, bytes, savedAt, modelName, classes }) => ({ url: `${SCHEME}${name}`, name, savedAt, bytes: bytes.length, modelName, classes });

/** Every saved model's description (not its bytes), by name. */
export async function listModels() {
  const records = await withModels('readonly', (store) => store.getAll());
  return records.map(describe);
}

/** Forgets the model saved as `name`; true when there was one. */
export async function removeModel(name) {
  const existed = (await withModels('readonly', (store) => store.count(name))) > 0;
  await withModels('readwrite', (store) => store.delete(name));
  return existed;
}
