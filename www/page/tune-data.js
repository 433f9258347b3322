// Collecting the fine-tune panel's examples: which kind of data (my own classes, or CIFAR-10
// with my data), a CIFAR-10 folder or binary files, the summary line and why Start must wait;
// and, when a run starts, sending the examples to the worker. The class rows: tune-classes.js.
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { keepCifarFiles, keepProject } from './project-keeper.js';

/** The classes of the dataset the shipped model learned (CIFAR-10), as the runtime names them. */
const datasetClasses = () => page.model.facts.datasetClasses;

const mode = () => ($('mode-cifar').checked ? 'cifar' : 'custom');

/**
 * Asks the runtime whether fine-tuning would accept the custom class names (one rule, the
 * runtime's: distinct when trimmed and case-insensitive, none empty), then updates the summary.
 */
export async function checkClassNames() {
  const names = tuning.customClasses.map((c) => c.name);
  let problem = null;
  try {
    await page.model.checkClassNames(names);
  } catch (error) {
    if (error.code !== 'invalid-argument') throw error;
    problem = `${error.message[0].toUpperCase()}${error.message.slice(1)}.`;
  }
  // A later edit may have started another check meanwhile: only the current names count.
  if (names.join('\n') !== tuning.customClasses.map((c) => c.name).join('\n')) return;
  tuning.namesProblem = problem;
  summarise();
}

/** What is wrong with the custom classes (`empty` words the classes without photos), or null. */
function customClassesProblem(empty) {
  if (tuning.namesProblem) return tuning.namesProblem;
  const without = tuning.customClasses.filter((c) => c.photos.length === 0).map((c) => c.name);
  return without.length ? empty(without.join(', ')) : null;
}

/** Why Start cannot run yet (shown beside it), or null when the data is complete. */
export function missingData() {
  if (tuning.preparing > 0) return `Preparing ${tuning.preparing} photo(s)…`;
  if (mode() === 'custom') {
    return customClassesProblem((names) => `Add photos to ${names} to start.`);
  }
  const { cifarFiles, cifarBinaries } = tuning;
  return cifarFiles.length || cifarBinaries.length ? null : 'Choose a CIFAR-10 folder or CIFAR-10/100 binary files to start.';
}

/** Updates the data summary, and Start with the reason it waits (unless a run is on). */
export function summarise() {
  const missing = missingData();
  $('start-reason').textContent = missing ?? '';
  if (!tuning.run) $('start-train').disabled = Boolean(missing);
  if (mode() === 'custom') {
    const counts = tuning.customClasses.map((c) => `${c.name || '(unnamed)'}: ${c.photos.length}`);
    $('data-summary').textContent = `${tuning.customClasses.length} classes — ${counts.join(', ')}`;
    return;
  }
  const perClass = datasetClasses().map((name, i) => tuning.cifarFiles.filter((f) => f.label === i).length);
  const images = perClass.reduce((a, b) => a + b, 0);
  const binaries = tuning.cifarBinaries.length ? ` + ${tuning.cifarBinaries.length} CIFAR binary file(s)` : '';
  $('data-summary').textContent = images || binaries
    ? `${images} images from folders${binaries}. Per class: ${datasetClasses().map((n, i) => `${n} ${perClass[i]}`).join(', ')}`
    : 'No images yet.';
}

/**
 * Keeps up to the per-class limit of a folder's images whose parent folder names a class (by
 * the runtime's class-name rule).
 */
async function pickCifarFolder(files) {
  const limit = Number($('per-class-limit').value) || 200;
  const folderOf = (file) => (file.webkitRelativePath || file.name).split('/').at(-2) ?? '';
  const folders = [...new Set([...files].map(folderOf))];
  const labels = await page.model.matchClasses(folders, datasetClasses());
  const labelOf = new Map(folders.map((folder, i) => [folder, labels[i]]));
  const perClass = datasetClasses().map(() => 0);
  let unknown = 0;
  tuning.cifarFiles = [];
  for (const file of files) {
    const label = labelOf.get(folderOf(file));
    if (label === null) { unknown++; continue; }
    if (perClass[label] >= limit) continue;
    perClass[label]++;
    tuning.cifarFiles.push({ file, label });
  }
  if (unknown) showAlert(`${unknown} file(s) are not in a folder named after a CIFAR-10 class and were skipped.`, { kind: 'info' });
  summarise();
  keepCifarFiles('folder', tuning.cifarFiles);
}

/** The data kind switch and the CIFAR-10 inputs. */
export function setupDataInputs() {
  for (const radio of [$('mode-custom'), $('mode-cifar')]) {
    radio.addEventListener('change', () => {
      showMode();
      keepProject();
    });
  }
  $('cifar-folder').addEventListener('change', (event) => {
    pickCifarFolder(event.target.files).catch((error) => showAlert(`Could not read the folder: ${error.message}`));
  });
  $('cifar-binary').addEventListener('change', (event) => {
    tuning.cifarBinaries = [...event.target.files];
    summarise();
    keepCifarFiles('binary', tuning.cifarBinaries.map((file) => ({ file, label: null })));
  });
  $('per-class-limit').addEventListener('change', keepProject);
}

/** Shows the inputs of the data kind chosen (`kind`: 'custom' or 'cifar', to set it first). */
export function showMode(kind = null) {
  if (kind) $(kind === 'cifar' ? 'mode-cifar' : 'mode-custom').checked = true;
  $('custom-data').hidden = mode() !== 'custom';
  $('cifar-data').hidden = mode() !== 'cifar';
  summarise();
}

/** Which data the panel trains on: 'custom' or 'cifar'. */
export const dataMode = mode;

/** Sends the custom classes' photos; returns the class names. */
async function sendCustomClasses(add) {
  const { customClasses } = tuning;
  await page.model.checkClassNames(customClasses.map((c) => c.name)); // refuses with the runtime's reason
  const problem = customClassesProblem((names) => `add at least one photo to: ${names}`);
  if (problem) throw new Error(problem);
  let done = 0;
  const total = customClasses.reduce((n, c) => n + c.photos.length, 0);
  for (const [label, entry] of customClasses.entries()) {
    for (const { file } of entry.photos) {
      await add(file, label);
      $('train-status').textContent = `Preparing images ${++done}/${total}…`;
    }
  }
  return customClasses.map((c) => c.name.trim());
}

/**
 * Sends the CIFAR binary files, then the CIFAR-10 folder's images. CIFAR-10 needs a model that
 * predicts its classes; CIFAR-100's files train a new last layer for its 100 classes (returned).
 */
async function sendCifar(add, failures) {
  for (const file of tuning.cifarBinaries) {
    try {
      await page.model.addCifarBatch(file);
    } catch (error) {
      failures.push(`${file.name}: ${error.message}`);
    }
  }
  const classes = await page.model.exampleClasses();
  if (classes && classes.length !== datasetClasses().length) {
    if (tuning.cifarFiles.length) throw new Error('CIFAR-100 files and a CIFAR-10 folder cannot train together; choose one');
    return classes;
  }
  const matched = await page.model.matchClasses(page.model.info.classes, datasetClasses());
  if (matched.length !== datasetClasses().length || matched.some((index, i) => index !== i)) {
    throw new Error('the loaded model does not predict the CIFAR-10 classes; load the shipped model first');
  }
  let done = 0;
  for (const { file, label } of tuning.cifarFiles) {
    await add(file, label);
    if (++done % 25 === 0) $('train-status').textContent = `Preparing images ${done}/${tuning.cifarFiles.length}…`;
  }
  return null;
}

/**
 * Sends the chosen images to the worker. Returns the class names (null = keep the model's) and
 * the probe: the first image that was accepted, whose SE weights the run reports every step.
 */
export async function loadExamples() {
  await page.model.clearExamples();
  const failures = [];
  let probe = null;
  const add = async (file, label) => {
    try {
      await page.model.addExample(file, label);
      probe ??= file;
    } catch (error) {
      failures.push(`${file.name}: ${error.message}`);
    }
  };
  let classes = null;
  if (mode() === 'custom') classes = await sendCustomClasses(add);
  else classes = await sendCifar(add, failures);
  if (failures.length) {
    showAlert(`Skipped ${failures.length} file(s): ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; …' : ''}`);
  }
  return { classes, probe };
}
