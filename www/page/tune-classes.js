// "My own classes": one row per class with its name, its photos (chosen, or snapped from the
// camera) as thumbnails and a count, and a Remove button; from `minClasses` to `maxClasses` rows
// (the runtime's facts). A long list scrolls, and a search box finds a class by name. Each photo is kept small (photo-prep.js) and handed to the keeper, so a
// reload brings the rows back (project-restore.js rebuilds them with `addClassRow`).
import { $, textButton } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { hasCamera, snapOnce } from './camera.js';
import { keptPhoto } from './photo-prep.js';
import { forgetClass, keepPhoto, keepProject } from './project-keeper.js';
import { checkClassNames, summarise } from './tune-data.js';

const MAX_THUMBNAILS = 24; // per row: the count says how many there are

const newId = () => crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;

/** The photo picker of class `number`: a label styled as a button around a hidden file input. */
function photoPicker(number, addFiles) {
  const pick = document.createElement('label');
  pick.className = 'button';
  pick.textContent = 'Add photos…';
  const files = document.createElement('input');
  files.type = 'file';
  files.accept = 'image/*';
  files.multiple = true;
  files.className = 'visually-hidden';
  files.setAttribute('aria-label', `Photos for class ${number}`);
  files.addEventListener('change', () => { addFiles([...files.files]); files.value = ''; });
  pick.append(files);
  return pick;
}

function nameInput(entry, number) {
  const input = document.createElement('input');
  input.type = 'text';
  input.value = entry.name;
  input.setAttribute('aria-label', `Name of class ${number}`);
  input.addEventListener('input', () => { entry.name = input.value; checkNames(); keepProject(); });
  return input;
}

/** A kept photo as the row and the model use it: a File of the small copy, and its thumbnail. */
const photoOf = (record) => ({
  id: record.id,
  file: new File([record.photo], record.name, { type: record.photo.type }),
  thumb: record.thumb ?? record.photo,
});

/**
 * The photos of `entry`: `addFiles` makes each file's small copy, keeps it and shows its
 * thumbnail; `showPhotos` shows photos already kept (a restored project). Empty files are refused.
 */
function photoList(entry) {
  const thumbs = document.createElement('div');
  thumbs.className = 'thumbs';
  const count = document.createElement('span');
  count.className = 'muted';
  const refresh = () => {
    count.textContent = `${entry.photos.length} image(s)`;
    summarise();
  };
  const show = (photo) => {
    entry.photos.push(photo);
    if (thumbs.children.length >= MAX_THUMBNAILS) return;
    const img = document.createElement('img');
    img.src = URL.createObjectURL(photo.thumb);
    img.alt = photo.file.name;
    thumbs.append(img);
  };
  const showPhotos = (records) => {
    records.forEach((record) => show(photoOf(record)));
    refresh();
  };
  const addFiles = async (list) => {
    tuning.preparing += list.length;
    summarise();
    for (const file of list) {
      try {
        if (file.size === 0) throw new Error('it is empty (0 bytes)');
        const record = { id: newId(), classId: entry.id, order: Date.now() + entry.photos.length / 1e4, name: file.name || 'photo', addedAt: new Date().toISOString(), ...(await keptPhoto(file)) };
        show(photoOf(record));
        keepPhoto(record);
      } catch (error) {
        showAlert(`${file.name} was not added: ${error.message}`);
      } finally {
        tuning.preparing--;
      }
      refresh();
    }
  };
  return { thumbs, count, addFiles, showPhotos, refresh };
}

/**
 * Adds a class row named `name` (`id` and `records`: a kept class and its photos, when a project
 * is restored or opened). Returns the entry, or null at the class limit.
 */
export function addClassRow(name, { id = newId(), records = [] } = {}) {
  const { maxClasses } = page.model.facts;
  if (tuning.customClasses.length >= maxClasses) {
    showAlert(`At most ${maxClasses} classes.`);
    return null;
  }
  const entry = { id, name, photos: [] };
  tuning.customClasses.push(entry);
  const number = tuning.customClasses.length; // in the row's labels, as the visitor counts
  const item = document.createElement('li');
  const { thumbs, count, addFiles, showPhotos } = photoList(entry);
  entry.addFiles = addFiles; // the live camera adds frames through it
  item.append(nameInput(entry, number), photoPicker(number, addFiles));
  if (hasCamera()) {
    item.append(textButton('Snap from camera', async () => {
      try {
        addFiles([await snapOnce()]);
      } catch (error) {
        showAlert(`The camera is not available: ${error.message}`);
      }
    }));
  }
  const remove = textButton('Remove', () => {
    const { minClasses } = page.model.facts;
    if (tuning.customClasses.length <= minClasses) { showAlert(`Keep at least ${minClasses} classes.`); return; }
    tuning.customClasses.splice(tuning.customClasses.indexOf(entry), 1);
    item.remove();
    checkNames();
    forgetClass(entry.id);
  });
  remove.setAttribute('aria-label', `Remove class ${number}`);
  item.append(remove, count, thumbs);
  item.dataset.testid = 'class-row';
  $('class-list').append(item);
  showPhotos(records);
  checkNames();
  return entry;
}

/** Removes every class row (a project is about to replace them). */
export function clearClassRows() {
  tuning.customClasses = [];
  $('class-list').replaceChildren();
}

/** Above this many classes the list offers a search box. */
const SEARCH_FROM = 8;

/** Shows the rows whose name contains the search text (all when it is empty). */
function filterRows() {
  const wanted = $('class-search').value.trim().toLowerCase();
  const rows = $('class-list').children;
  tuning.customClasses.forEach((entry, i) => { rows[i].hidden = Boolean(wanted) && !entry.name.toLowerCase().includes(wanted); });
}

/** The search box, once the list is long enough to need one. */
function updateSearch() {
  $('class-search-label').hidden = tuning.customClasses.length <= SEARCH_FROM;
  filterRows();
}

/** The runtime's verdict on the names, after any change to them. */
function checkNames() {
  updateSearch();
  checkClassNames().catch((error) => showAlert(`Could not check the class names: ${error.message}`));
}

/** The rows a new visitor starts with: classes A and B. */
export function addFirstClasses() {
  addClassRow('class A');
  addClassRow('class B');
}

/** The default name of the `n`th class (from 1): A to Z, then AA, AB, … */
function defaultName(n) {
  let name = '';
  for (let rest = n; rest > 0; rest = Math.floor((rest - 1) / 26)) name = String.fromCharCode(65 + ((rest - 1) % 26)) + name;
  return `class ${name}`;
}

/** "Add a class" adds the next letter; the search box filters the rows. */
export function setupClassList() {
  $('add-class').addEventListener('click', () => {
    if (addClassRow(defaultName(tuning.customClasses.length + 1))) keepProject();
  });
  $('class-search').addEventListener('input', filterRows);
}
