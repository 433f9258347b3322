// The next visit: what the keeper stored is put back into the Fine-tune panel (classes and their
// photos, settings, the CIFAR-10 selection, the fine-tuned model, the run's charts), and the page
// says in plain words what came back and when it was saved. *Start over* clears it, after asking.
// A project opened from a file goes through the same `applyProject`.
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { updateStatus } from './page-status.js';
import { forgetAll, openKeeper } from './project-keeper.js';
import { addClassRow, addFirstClasses, clearClassRows } from './tune-classes.js';
import { showMode, summarise } from './tune-data.js';
import { restoreProgress } from './tune-progress.js';
import { restoreHistory } from './tune-se-history.js';
import { applySettings } from './tune-settings.js';

const fileOf = (record) => new File([record.blob], record.name, { type: record.blob.type });

/** The CIFAR-10 selection kept (images from a folder, binary files). */
function restoreCifar(files) {
  tuning.cifarFiles = files.filter((f) => f.kind === 'folder').map((record) => ({ file: fileOf(record), label: record.label }));
  tuning.cifarBinaries = files.filter((f) => f.kind === 'binary').map(fileOf);
}

/** A kept run's charts and SE history (a failure leaves them empty: the model matters more). */
async function restoreRun(history) {
  try {
    if (history.progress) await restoreProgress(history.progress);
    if (history.se) await restoreHistory(history.se);
  } catch (error) {
    showAlert(`The charts of the last run could not be drawn again: ${error.message}`, { kind: 'info' });
  }
}

/**
 * Puts kept work into the panel: `{ project, photos, files, weights, history }` as the keeper
 * loads it. Nothing here stores anything: it is already kept.
 */
export async function applyProject({ project, photos = [], files = [], weights = null, history = null }) {
  clearClassRows();
  for (const { id, name } of project.classes ?? []) {
    addClassRow(name, { id, records: photos.filter((photo) => photo.classId === id) });
  }
  applySettings(project.settings);
  if (project.perClassLimit) $('per-class-limit').value = String(project.perClassLimit);
  restoreCifar(files);
  showMode(project.mode);
  // A `?model=` link asked for its own model: the kept one stays kept, not loaded.
  if (weights && !page.modelFromLink) {
    await page.model.loadWeights(weights.bytes.slice());
    updateStatus();
  }
  if (history) await restoreRun(history);
  summarise();
}

/** What came back, in words: "2 classes with 24 photos, the fine-tuned model (…), its charts". */
function describeRestored({ project, photos, files, weights, history }) {
  const parts = [];
  if (project.mode === 'cifar') parts.push(`the CIFAR-10 selection (${files.length} file(s))`);
  else parts.push(`${project.classes.length} classes with ${photos.length} photo(s)`);
  if (weights) {
    const epoch = weights.kept ? `epoch ${weights.kept.epoch} of ${weights.kept.epochs}` : null;
    parts.push(weights.status === 'running'
      ? `the model from the interrupted run${epoch ? ` (its last kept epoch, ${epoch})` : ''}`
      : weights.status === 'loaded' ? 'the model you loaded' : `the fine-tuned model${epoch ? ` (kept after ${epoch})` : ''}`);
  }
  if (history?.progress) parts.push('the last run\'s charts');
  return parts.join(', ');
}

/** Clears the kept work after a confirmation, and starts the page afresh. */
export async function startOver() {
  if (!confirm('Start over? Your classes, photos, settings and fine-tuned model kept in this browser will be removed.')) return;
  await forgetAll();
  location.reload();
}

/** Restores the kept work, or starts the panel with classes A and B when there is none. */
export async function restoreWork() {
  performance.mark('secnn:restore-start'); // with 'secnn:restored': bench/keep.mjs's figure
  const kept = await openKeeper();
  if (!kept?.project) {
    addFirstClasses();
    return;
  }
  try {
    await applyProject(kept);
    performance.mark('secnn:restored');
  } catch (error) {
    showAlert(`Your kept work could not be restored completely: ${error.message}`, { action: { label: 'Start over', run: startOver } });
    return;
  }
  const latest = [kept.project, kept.weights, kept.history].filter(Boolean).map((record) => record.savedAt).sort().at(-1);
  const when = new Date(latest).toLocaleString();
  $('work-restored').textContent = `Restored ${describeRestored(kept)}, saved ${when}.`;
  showAlert(`Welcome back: restored ${describeRestored(kept)} (saved ${when}).`, {
    kind: 'info', action: { label: 'Start over', run: startOver },
  });
}
