// Running a fine-tune: the settings card read into fineTune's options, and Start, Pause/Resume,
// "Stop and keep" and Cancel. Start sends the examples (tune-data.js), then the run reports to
// tune-progress.js until it ends; Classify then uses whatever model it left.
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { reportError, updateStatus } from './page-status.js';
import { loadExamples, missingData } from './tune-data.js';
import { showEpoch, showPlan, showStep, startProgress } from './tune-progress.js';

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

/** The settings card as fineTune options. */
function readSettings() {
  return {
    epochs: Number($('epochs').value),
    batchSize: Number($('batch-size').value),
    learningRate: Number($('lr').value),
    optimizer: $('optimizer').value,
    schedule: $('schedule').value,
    freeze: $('freeze').value,
    augment: $('augment').checked,
    validationSplit: Number($('val-split').value),
  };
}

/** Sends the examples and runs; resolves with the run's result ({ status, info }). */
async function train() {
  const { classes, probe } = await loadExamples();
  tuning.classes = classes ?? page.model.info.classes;
  const probeBitmap = probe ? await createImageBitmap(probe).catch(() => null) : null;
  const options = { classes, ...readSettings(), probe: probeBitmap };
  const charts = await startProgress();
  tuning.run = page.model.fineTune({
    ...options,
    onPlan: (plan) => showPlan(plan, probeBitmap, charts),
    onStep: showStep,
    onEpoch: showEpoch,
    onPause: () => { $('train-status').textContent += ' — paused'; },
  });
  return tuning.run.done;
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
  $('pause-train').textContent = 'Pause';
  try {
    const result = await train();
    updateStatus();
    reportResult(result);
  } catch (failure) {
    const error = failure.code === 'diverged' ? divergedError(failure.details) : failure;
    reportError('Fine-tuning stopped', error);
    $('train-status').textContent = `Stopped: ${error.message}`;
    try { updateStatus(); } catch { /* runtime gone; reportError offered a restart */ }
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
