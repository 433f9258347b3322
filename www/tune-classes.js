// "My own classes": one row per class with its name, its photos (chosen, or snapped from the
// camera) as thumbnails and a count, and a Remove button; two to ten rows.
import { $, textButton } from './page-dom.js';
import { tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { hasCamera, snapOnce } from './camera.js';
import { page } from './page-state.js';
import { checkClassNames, summarise } from './tune-data.js';

const MAX_THUMBNAILS = 24; // per row: the count says how many there are

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
  input.addEventListener('input', () => { entry.name = input.value; checkNames(); });
  return input;
}

/** The photos of `entry`: `addFiles` keeps them (empty files refused) and shows thumbnails and the count. */
function photoList(entry) {
  const thumbs = document.createElement('div');
  thumbs.className = 'thumbs';
  const count = document.createElement('span');
  count.className = 'muted';
  const refresh = () => {
    count.textContent = `${entry.files.length} image(s)`;
    summarise();
  };
  const addFiles = (list) => {
    for (const file of list) {
      if (file.size === 0) { showAlert(`${file.name} is empty (0 bytes) and was not added.`); continue; }
      entry.files.push(file);
      if (thumbs.children.length < MAX_THUMBNAILS) {
        const img = document.createElement('img');
        img.src = URL.createObjectURL(file);
        img.alt = file.name;
        thumbs.append(img);
      }
    }
    refresh();
  };
  return { thumbs, count, addFiles, refresh };
}

function addClassRow(name) {
  const { maxClasses } = page.model.facts;
  if (tuning.customClasses.length >= maxClasses) {
    showAlert(`At most ${maxClasses} classes.`);
    return;
  }
  const entry = { name, files: [] };
  tuning.customClasses.push(entry);
  const number = tuning.customClasses.length; // in the row's labels, as the visitor counts
  const item = document.createElement('li');
  const { thumbs, count, addFiles, refresh } = photoList(entry);
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
  });
  remove.setAttribute('aria-label', `Remove class ${number}`);
  item.append(remove, count, thumbs);
  item.dataset.testid = 'class-row';
  $('class-list').append(item);
  refresh();
  checkNames();
}

/** The runtime's verdict on the names, after any change to them. */
function checkNames() {
  checkClassNames().catch((error) => showAlert(`Could not check the class names: ${error.message}`));
}

/** Starts with classes A and B; "Add a class" adds the next letter. */
export function setupClassList() {
  addClassRow('class A');
  addClassRow('class B');
  $('add-class').addEventListener('click', () => addClassRow(`class ${String.fromCharCode(64 + tuning.customClasses.length + 1)}`));
}
