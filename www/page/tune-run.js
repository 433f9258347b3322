// Running a fine-tune: the settings card read into fineTune's options, and Start, Pause/Resume,
// "Stop and keep" and Cancel. Start sends the examples (tune-data.js), then the run reports to
// tune-progress.js until it ends; Classify then uses whatever model it left. After every epoch
// the weights the run would keep (and its charts) are stored (project-keeper.js), so a crash or
// a reload mid-run leaves the last kept epoch.
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { reportError, updateStatus } from './page-status.js';
import { loadExamples, missingData } from './tune-data.js';
import { forgetWeights, keepHistory, keepWeights, keptWeights, track } from './project-keeper.js';
import { progressSnapshot, showEpoch, showPlan, showStep, startProgress } from './tune-progress.js';
import { historySnapshot } from './tune-se-history.js';
import { readSettings } from './tune-settings.js';

let paused = false;

/** Enables the buttons that fit: while a run is on, only its own controls (and nothing that swaps weights). */
function setRunning(running) {
  $('start-train').disabled = running || Boolean(missingData());
  $('pause-train').disabled = !running;
  $('finish-train').disabled = !running;
  $('cancel-train').disabled = !running;
  $('load-weights').disabled = running;
  $('restore-shipped').disabled = running;
}

/** Sends the examples and runs; resolves with the run's result ({ status, info }). */
async function train() {
  const { classes, probe } = await loadExamples();
  tuning.classes = classes ?? page.model.info.classes;
  const probeBitmap = probe ? await createImageBitmap(probe).catch(() => null) : null;
  const options = { classes, ...readSettings(), probe: probeBitmap };
  const charts = await startProgress();
  const run = page.model.fineTune({
    ...options,
    onPlan: (plan) => showPlan(plan, probeBitmap, charts),
    onStep: showStep,
    onEpoch: (end) => {
      showEpoch(end);
      keepEpoch(run).catch((error) => console.warn('could not keep the epoch:', error));
    },
    onPause: () => { $('train-status').textContent += ' — paused'; },
  });
  tuning.run = run;
  return run.done;
}

/** The run's history as the keeper stores it. */
async function runHistory() {
  return { progress: progressSnapshot(), se: await historySnapshot() };
}

let lastKept = null;
/** The run's keeping, one step after another, so an epoch's late write never follows the run's last. */
let keeping = Promise.resolve();
const inTurn = (work) => {
  keeping = keeping.then(work, work);
  return track(keeping);
};

/** After an epoch: the weights the run would keep now (when they changed), with its history. */
function keepEpoch(run) {
  return inTurn(async () => {
    if (tuning.run !== run) return; // the run ended meanwhile: keepResult stores what it left
    const { weights, kept } = await run.keptWeights();
    const same = kept && lastKept && kept.epoch === lastKept.epoch;
    if (!same) keepWeights(weights, { kept, status: 'running', classes: tuning.classes });
    lastKept = kept;
    keepHistory(await runHistory());
  });
}

/**
 * At a run's end, the model it left: the fine-tuned one, or, cancelled or diverged, the one from
 * before (which is the shipped model when no weights were kept before the run).
 */
function keepResult(status, kept, hadWeights) {
  return inTurn(async () => {
    if (status === 'cancelled' && !hadWeights) forgetWeights();
    else keepWeights(await page.model.exportWeights(), { kept, status, classes: page.model.info.classes });
    keepHistory(await runHistory());
  });
}

/** How the run ended, in the status line (with the epoch it kept) and as an alert. */
function reportResult(result) {
  const message = {
    done: 'Training finished: Classify now uses the fine-tuned model.',
    'finished early': 'Training stopped early: Classify uses what it learned so far.',
    cancelled: 'Training cancelled: the model from before is back.',
  }[result.status];
  const { kept } = result;
  $('train-status').textContent = kept
    ? `${message} It kept the weights after epoch ${kept.epoch} of ${kept.epochs}, the best on validation ` +
      `(${(kept.accuracy * 100).toFixed(1)} %).`
    : message;
  showAlert(message, { kind: 'info' });
}

/** A diverged run (`details: { loss, epoch }` from the runtime), in words. */
function divergedError({ loss, epoch }) {
  const error = new Error(`the loss became ${loss} in epoch ${epoch}, so the weights from before fine-tuning were ` +
    'restored; try a lower learning rate');
  error.code = 'diverged';
  return error;
}

async function start() {
  setRunning(true);
  paused = false;
  lastKept = null;
  const hadWeights = keptWeights() !== null;
  $('pause-train').textContent = 'Pause';
  try {
    const result = await train();
    tuning.run = null;
    updateStatus();
    reportResult(result);
    await keepResult(result.status, result.kept, hadWeights);
  } catch (failure) {
    const error = failure.code === 'diverged' ? divergedError(failure.details) : failure;
    reportError('Fine-tuning stopped', error);
    $('train-status').textContent = `Stopped: ${error.message}`;
    try { updateStatus(); } catch { /* runtime gone; reportError offered a restart */ }
    // Diverged: the model from before is back. A lost runtime keeps the last kept epoch stored.
    tuning.run = null;
    if (failure.code === 'diverged') await keepResult('cancelled', null, hadWeights).catch(() => {});
  } finally {
    tuning.run = null;
    setRunning(false);
  }
}

function togglePause() {
  const { run } = tuning;
  if (!run) return;
  paused = !paused;
  $('pause-train').textContent = paused ? 'Resume' : 'Pause';
  (paused ? run.pause() : run.resume()).catch((e) => reportError('Pause', e));
}

export function setupRunControls() {
  $('start-train').addEventListener('click', start);
  $('pause-train').addEventListener('click', togglePause);
  $('finish-train').addEventListener('click', () => tuning.run?.finish().catch((e) => reportError('Stop', e)));
  $('cancel-train').addEventListener('click', () => tuning.run?.cancel().catch((e) => reportError('Cancel', e)));
}
