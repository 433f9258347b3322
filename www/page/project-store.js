// The page's work in the browser's own storage, so a reload, a crash or a discarded tab loses
// nothing: IndexedDB holds the project's description (classes, settings, the CIFAR-10
// selection's limits), each photo's record, the CIFAR-10 files chosen, the model after the last
// kept epoch and the run's history; the photos' bytes (a small copy and a thumbnail) go to the
// origin private file system where the browser has it (files are what it is for, and it counts
// them against the quota as it writes), else into IndexedDB with their records. Only the tab that
// holds the project's lock writes (project-keeper.js). Records:
//   meta:   { key: 'project', … } · { key: 'weights', bytes, kept, … } · { key: 'history', … }
//   photos: { id, classId, order, name, width, height, addedAt, inFiles } (+ photo, thumb: Blobs when not inFiles)
//   files:  { id, kind: 'folder' | 'binary', label, name, blob }  (the CIFAR-10 selection)
import { isQuotaError, openDatabase, request } from '../secnn/secnn-store.js';

const DATABASE = 'secnn-page';
const STORES = ['meta', 'photos', 'files'];
const PHOTO_FOLDER = 'secnn-photos';

function upgrade(db) {
  db.createObjectStore('meta', { keyPath: 'key' });
  db.createObjectStore('photos', { keyPath: 'id' }).createIndex('byClass', 'classId');
  db.createObjectStore('files', { keyPath: 'id' });
}

/** A write refused because the browser's storage is full (`what` names the record). */
export class StorageFullError extends Error {
  constructor(what) {
    super(`the browser's storage is full: ${what} was not kept`);
    this.name = 'StorageFullError';
  }
}

/** The photos' folder in the origin private file system, or null where the browser cannot write there. */
async function photoFolder() {
  try {
    const root = await navigator.storage?.getDirectory?.();
    const folder = await root?.getDirectoryHandle(PHOTO_FOLDER, { create: true });
    if (!folder || typeof FileSystemFileHandle.prototype.createWritable !== 'function') return null;
    return folder;
  } catch {
    return null;
  }
}

async function writeFile(folder, name, blob) {
  const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
  try {
    await writable.write(blob);
    await writable.close();
  } catch (error) {
    await writable.abort().catch(() => {});
    throw error;
  }
}

const readFile = async (folder, name) => (await folder.getFileHandle(name)).getFile();

const isPlain = (value) => value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;

/**
 * `value` with every Blob replaced by its bytes: WebKit cannot store Blobs in IndexedDB in some
 * sessions ("Error preparing Blob/File data"), while every engine stores an ArrayBuffer.
 */
async function storable(value) {
  if (value instanceof Blob) return { storedBlob: await value.arrayBuffer(), type: value.type, name: value.name ?? null };
  if (Array.isArray(value)) return Promise.all(value.map(storable));
  if (!isPlain(value)) return value;
  const entries = await Promise.all(Object.entries(value).map(async ([key, field]) => [key, await storable(field)]));
  return Object.fromEntries(entries);
}

/** The inverse of `storable`: Blobs (Files where they had a name) back. */
function restored(value) {
  if (Array.isArray(value)) return value.map(restored);
  if (!isPlain(value)) return value;
  if (value.storedBlob instanceof ArrayBuffer) {
    return value.name ? new File([value.storedBlob], value.name, { type: value.type }) : new Blob([value.storedBlob], { type: value.type });
  }
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, restored(field)]));
}

export class ProjectStore {
  #db;
  #folder;

  constructor(db, folder) {
    this.#db = db;
    this.#folder = folder;
  }

  static async open() {
    return new ProjectStore(await openDatabase(DATABASE, 1, upgrade), await photoFolder());
  }

  /** Runs `action(stores)` in one transaction over `names`; resolves with its result once committed. */
  async #transaction(names, mode, action, what) {
    const transaction = this.#db.transaction(names, mode);
    const committed = request(transaction);
    const stores = Object.fromEntries(names.map((name) => [name, transaction.objectStore(name)]));
    try {
      const result = await action(stores);
      await committed;
      return result;
    } catch (error) {
      committed.catch(() => {});
      if (isQuotaError(error) || isQuotaError(transaction.error)) throw new StorageFullError(what);
      throw error;
    }
  }

  /** A photo record with its Blobs (read from the file system when they live there). */
  async #withBlobs(record) {
    if (!record.inFiles) return record;
    try {
      const [photo, thumb] = await Promise.all([readFile(this.#folder, record.id), readFile(this.#folder, `${record.id}.thumb`).catch(() => null)]);
      return { ...record, photo, thumb };
    } catch {
      return null; // its file is gone (cleared by the browser): the record alone is no photo
    }
  }

  /** Everything kept: `{ project, weights, history, photos (in order), files }`. */
  async load() {
    const { records, photos, files } = await this.#transaction(STORES, 'readonly', async (stores) => {
      const [meta, allPhotos, allFiles] = await Promise.all([request(stores.meta.getAll()), request(stores.photos.getAll()), request(stores.files.getAll())]);
      return { records: meta, photos: allPhotos, files: allFiles };
    }, 'nothing');
    const byKey = Object.fromEntries(records.map((record) => [record.key, restored(record)]));
    photos.sort((a, b) => a.order - b.order);
    const withBlobs = (await Promise.all(photos.map((record) => this.#withBlobs(restored(record))))).filter(Boolean);
    return { project: byKey.project ?? null, weights: byKey.weights ?? null, history: byKey.history ?? null, photos: withBlobs, files: restored(files) };
  }

  /** Keeps a photo: its bytes first (files, where there are), then its record. */
  async putPhoto(record, what) {
    if (!this.#folder) return this.put('photos', record, what);
    const { photo, thumb, ...meta } = record;
    try {
      await writeFile(this.#folder, record.id, photo);
      if (thumb) await writeFile(this.#folder, `${record.id}.thumb`, thumb);
    } catch (error) {
      await this.#removeFiles([record.id]);
      if (isQuotaError(error)) throw new StorageFullError(what);
      throw error;
    }
    return this.put('photos', { ...meta, inFiles: true }, what);
  }

  /** Keeps `record` (`meta` records by `key`, others by `id`). */
  async put(store, record, what) {
    const value = await storable(record);
    return this.#transaction([store], 'readwrite', (stores) => request(stores[store].put(value)), what);
  }

  delete(store, key) {
    return this.#transaction([store], 'readwrite', (stores) => request(stores[store].delete(key)), 'nothing');
  }

  async #removeFiles(ids) {
    if (!this.#folder) return;
    await Promise.all(ids.flatMap((id) => [id, `${id}.thumb`]).map((name) => this.#folder.removeEntry(name).catch(() => {})));
  }

  /** Forgets a class's photos. */
  async deleteClass(classId) {
    const keys = await this.#transaction(['photos'], 'readwrite', async ({ photos }) => {
      const found = await request(photos.index('byClass').getAllKeys(classId));
      await Promise.all(found.map((key) => request(photos.delete(key))));
      return found;
    }, 'nothing');
    await this.#removeFiles(keys);
  }

  /** Replaces every record of `store` matching `where` with `records` (one transaction: all or nothing). */
  async replace(store, where, records, what) {
    const values = await storable(records);
    return this.#transaction([store], 'readwrite', async (stores) => {
      const all = await request(stores[store].getAll());
      await Promise.all(all.filter(where).map((record) => request(stores[store].delete(record.id))));
      await Promise.all(values.map((value) => request(stores[store].put(value))));
    }, what);
  }

  /** Forgets everything. */
  async clear() {
    await this.#transaction(STORES, 'readwrite', (stores) => Promise.all(STORES.map((name) => request(stores[name].clear()))), 'nothing');
    if (this.#folder) {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(PHOTO_FOLDER, { recursive: true }).catch(() => {});
      this.#folder = await photoFolder();
    }
  }

  close() {
    this.#db.close();
  }
}
