// Work that travels: *Save project* downloads one zip (project.json with the classes, settings and
// the last run's history; classes/<name>/NNNN.png; the weights as model.safetensors with the class
// names inside), which *Open project* — or a drop on the Fine-tune panel — loads back on any
// browser, and `secnn train|eval --data project.zip` reads too. A plain zip of class folders, or a
// dropped folder of class folders, opens as a dataset. The runtime reads and writes the zips (one
// set of rules with the CLI: a bad archive is refused by name), and the work on the page stays
// until a file has been read completely.
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { reportError, updateStatus } from './page-status.js';
import { pngBytes } from './photo-prep.js';
import { forgetAll, hasWork, keepHistory, keepProject, keepWeights, keptWeights, settled } from './project-keeper.js';
import { startOver } from './project-restore.js';
import { addClassRow, clearClassRows } from './tune-classes.js';
import { dataMode, showMode, summarise } from './tune-data.js';
import { progressSnapshot, restoreProgress } from './tune-progress.js';
import { historySnapshot, restoreHistory } from './tune-se-history.js';
import { applySettings, readSettings } from './tune-settings.js';

const FORMAT = 'secnn-project';

function download(bytes, name) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** The last run's history as JSON (SE weights rounded: the file stays small). */
async function historyJson() {
  const se = await historySnapshot();
  const round = (w) => Math.round(w * 1e4) / 1e4;
  return {
    progress: progressSnapshot(),
    se: se && { totalSteps: se.totalSteps, widths: se.widths, steps: se.steps.map((blocks) => blocks.map((w) => Array.from(w, round))) },
  };
}

/** Downloads the project: photos as PNG, the model (when one was fine-tuned or loaded) as safetensors. */
async function saveProject() {
  $('save-project').disabled = true;
  try {
    await settled();
    const classes = [];
    for (const entry of tuning.customClasses) {
      classes.push({ name: entry.name, files: await Promise.all(entry.photos.map(({ file }) => pngBytes(file))) });
    }
    const weights = keptWeights() ? await page.model.exportWeights({ format: 'safetensors' }) : null;
    const project = {
      format: FORMAT, version: 1, savedAt: new Date().toISOString(), classes: classes.map(({ name }) => ({ name })),
      mode: dataMode(), settings: readSettings(), perClassLimit: Number($('per-class-limit').value) || 200,
      model: weights ? page.model.info.name : null, history: await historyJson(),
    };
    const bytes = await page.model.writeProject({ project, classes, weights });
    download(bytes, `secnn-project-${project.savedAt.slice(0, 10)}.zip`);
    $('work-saved').textContent = `project file saved ${new Date().toLocaleTimeString()} (${(bytes.length / 1e6).toFixed(1)} MB)`;
  } catch (error) {
    reportError('Could not save the project', error);
  } finally {
    $('save-project').disabled = false;
  }
}

/** A project's model and charts (after its classes are in place). */
async function applyProjectExtras(project, weights) {
  applySettings(project.settings);
  if (project.perClassLimit) $('per-class-limit').value = String(project.perClassLimit);
  if (weights) {
    await page.model.loadWeights(weights);
    updateStatus();
    keepWeights(await page.model.exportWeights(), { status: 'loaded', classes: page.model.info.classes });
  }
  const { progress, se } = project.history ?? {};
  if (progress) await restoreProgress(progress);
  if (se) await restoreHistory({ ...se, steps: se.steps.map((blocks) => blocks.map((w) => Float32Array.from(w))) });
  if (progress || se) keepHistory(await historyJson());
}

/** Replaces the panel's work with `archive` (read by the runtime): its classes and photos, and for a project its settings, model and charts. */
async function replaceWork(archive) {
  const previousWeights = keptWeights();
  await forgetAll();
  clearClassRows();
  tuning.cifarFiles = [];
  tuning.cifarBinaries = [];
  const names = archive.project?.classes?.map((c) => c.name) ?? archive.classes.map((c) => c.name);
  for (const [i, { files }] of archive.classes.entries()) {
    const entry = addClassRow(names[i]);
    await entry.addFiles(files.map(({ name, bytes }) => new File([bytes], name.split('/').at(-1), { type: imageType(name) })));
  }
  showMode('custom');
  if (archive.kind === 'project') await applyProjectExtras(archive.project, archive.weights);
  // Without a model of its own, the archive keeps the model the page had.
  if (!archive.weights && previousWeights) keepWeights(previousWeights, { status: 'loaded', classes: page.model.info.classes });
  keepProject();
  summarise();
}

const imageType = (name) => ({ png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', bmp: 'image/bmp' })[name.split('.').at(-1).toLowerCase()] ?? '';

/** What an archive holds, in words. */
function describeArchive(archive) {
  const photos = archive.classes.reduce((n, c) => n + c.files.length, 0);
  const model = archive.weights ? ', a model' : '';
  const skipped = archive.skipped.length ? ` (${archive.skipped.length} file(s) that are not images skipped)` : '';
  return `${archive.classes.length} classes with ${photos} photo(s)${model}${skipped}`;
}

/** Opens a project or dataset zip: refused by name, or confirmed and put in place of the current work. */
async function openArchive(file) {
  let archive;
  try {
    archive = await page.model.readArchive(file);
  } catch (error) {
    showAlert(`${file.name} was not opened: ${error.message}. Your work on the page is unchanged.`);
    return;
  }
  const { maxClasses } = page.model.facts;
  if (archive.classes.length > maxClasses) {
    showAlert(`${file.name} was not opened: it has ${archive.classes.length} classes, and fine-tuning here takes at most ${maxClasses}. Your work on the page is unchanged.`);
    return;
  }
  if (tuning.run) { showAlert(`${file.name} was not opened: a fine-tune is running.`); return; }
  if (hasWork() && !confirm(`Open ${file.name} (${describeArchive(archive)}) in place of your current work?`)) return;
  try {
    await replaceWork(archive);
    showAlert(`Opened ${file.name}: ${describeArchive(archive)}.`, { kind: 'info' });
  } catch (error) {
    reportError(`${file.name} was opened only in part`, error);
  }
}

/** Every file under a dropped directory entry, with its path. */
async function filesUnder(entry, path = '') {
  if (entry.isFile) return [{ path: `${path}${entry.name}`, file: await new Promise((resolve, reject) => entry.file(resolve, reject)) }];
  const reader = entry.createReader();
  const children = [];
  for (let batch; (batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))).length;) children.push(...batch);
  const nested = await Promise.all(children.filter((child) => !child.name.startsWith('.')).map((child) => filesUnder(child, `${path}${entry.name}/`)));
  return nested.flat();
}

/**
 * A dropped folder of class folders as a dataset archive: its sub-folders are the classes (one
 * level down when it holds a single folder), their images the photos; other files are skipped.
 */
async function folderArchive(entry) {
  const files = await filesUnder(entry);
  const depth = (path) => path.split('/').length;
  let rows = files.map(({ path, file }) => ({ parts: path.split('/').slice(1), file }));
  while (rows.length && rows.every((r) => r.parts.length > 2) && new Set(rows.map((r) => r.parts[0])).size === 1) rows = rows.map((r) => ({ ...r, parts: r.parts.slice(1) }));
  const classes = new Map();
  const skipped = [];
  for (const { parts, file } of rows) {
    if (parts.length !== 2 || !(file.type.startsWith('image/') || imageType(file.name))) { skipped.push({ name: parts.join('/'), reason: 'not an image in a class folder' }); continue; }
    if (!classes.has(parts[0])) classes.set(parts[0], []);
    classes.get(parts[0]).push({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
  }
  if (classes.size < 2) throw new Error(`${entry.name} holds ${classes.size} class folder(s) with images; a dataset needs at least 2 (${files.length} file(s) in all, at depth ${Math.max(0, ...files.map((f) => depth(f.path)))})`);
  return { kind: 'folders', project: null, weights: null, skipped, classes: [...classes].map(([name, list]) => ({ name, files: list })) };
}

async function openFolder(entry) {
  let archive;
  try {
    archive = await folderArchive(entry);
  } catch (error) {
    showAlert(`The folder was not opened: ${error.message}. Your work on the page is unchanged.`);
    return;
  }
  if (hasWork() && !confirm(`Open the folder ${entry.name} (${describeArchive(archive)}) in place of your current work?`)) return;
  await replaceWork(archive);
  showAlert(`Opened the folder ${entry.name}: ${describeArchive(archive)}.`, { kind: 'info' });
}

/** A drop on the Fine-tune panel: a zip (project or dataset) or a folder of class folders. */
async function onDrop(event) {
  const item = [...event.dataTransfer.items].find((i) => i.kind === 'file');
  if (!item) return;
  event.preventDefault();
  const entry = item.webkitGetAsEntry?.();
  if (entry?.isDirectory) return openFolder(entry);
  const file = item.getAsFile();
  if (file) return openArchive(file);
  return null;
}

export function setupProjectFiles() {
  $('save-project').addEventListener('click', saveProject);
  $('open-project').addEventListener('change', (event) => {
    const [file] = event.target.files;
    event.target.value = '';
    if (file) openArchive(file);
  });
  $('start-over').addEventListener('click', startOver);
  const panel = $('panel-train');
  panel.addEventListener('dragover', (event) => {
    if ([...event.dataTransfer.items].some((i) => i.kind === 'file')) event.preventDefault();
  });
  panel.addEventListener('drop', (event) => { onDrop(event).catch((error) => reportError('Could not open what was dropped', error)); });
}
