// A run as it goes: the plan (where it starts), the progress bar and status line, the loss,
// accuracy and learning-rate charts, the SE history (tune-se-history.js), and the validation
// tables after every epoch (tune-tables.js).
import { makeChart } from './charts.js';
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { addHistoryStep, startHistory } from './tune-se-history.js';
import { confusionView, perClassTable } from './tune-tables.js';

/** The run's charts, { loss, acc, lr }, each { plot, data } (charts.js). */
let charts = null;
/** When the run started (performance.now()), for its speed and the time left. */
let started = 0;
/** The run's plan and its last epoch's results, for a snapshot. */
let shown = { plan: null, lastEpoch: null };

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}

/** Notes the start and makes empty charts (resolved once the chart library is in). */
export async function startProgress() {
  started = performance.now();
  $('train-status').textContent = 'Starting…';
  const [loss, acc, lr] = await Promise.all([
    makeChart($('chart-loss'), [['loss', '#3b528b']]),
    makeChart($('chart-acc'), [['running accuracy', '#21918c'], ['validation accuracy', '#fde725']]),
    makeChart($('chart-lr'), [['learning rate', '#440154']], { log: true }),
  ]);
  return { loss, acc, lr };
}

/** The plan's warnings (data from the runtime), in words. */
const WARNING_TEXT = {
  'no-validation-images': () => 'no validation images: nothing measures whether fine-tuning helps',
  'few-validation-images': ({ images, pointsPerImage }) => `only ${images} validation images: each one moves the accuracy by ` +
    `${pointsPerImage.toFixed(0)} points; add images or raise the validation share`,
};

/** Where the run starts: how each class began, and the validation accuracy before any step. */
function describePlan(plan) {
  const how = { kept: 'kept from the model', imprinted: 'imprinted from its photos', random: 'random start' };
  const starts = plan.headReinitialised
    ? plan.classes.map((name, i) => `${name}: ${how[plan.classStarts[i]]}`).join(', ')
    : 'the model\'s own classes';
  const before = plan.startValidation
    ? `${(plan.startValidation.accuracy * 100).toFixed(1)} % on ${plan.startValidation.count} validation images`
    : 'not measured (no validation images)';
  $('start-summary').textContent = `Before training: ${before}. Last layer: ${starts}. ` +
    'The run keeps whichever epoch (the start included) scores best on validation.';
  const warnings = plan.warnings.map((warning) => `Warning: ${WARNING_TEXT[warning.code](warning)}.`);
  $('validation-warning').textContent = warnings.join(' ');
  $('validation-warning').hidden = warnings.length === 0;
}

/** The run's plan is in: fresh views for it (`newCharts` from startProgress), and what it will do. */
export function showPlan(plan, probeBitmap, newCharts) {
  charts = newCharts;
  shown = { plan, lastEpoch: null };
  if (plan.startValidation) {
    // Step 0: the validation accuracy before training, the figure the run must beat.
    charts.acc.data[0].push(0);
    charts.acc.data[1].push(null);
    charts.acc.data[2].push(plan.startValidation.accuracy);
    charts.acc.plot.setData(charts.acc.data);
  }
  startHistory(plan.totalSteps, page.model.info.widths, probeBitmap);
  $('train-progress').max = plan.totalSteps;
  $('train-progress').value = 0;
  $('epoch-results').hidden = true;
  describePlan(plan);
  $('train-status').textContent = `Training on ${plan.trainImages} images (${plan.validationImages} for validation), ` +
    `${plan.totalSteps} steps${plan.usesFeatureCache ? ' — frozen features computed once' : ''}…`;
}

/** After every step: the charts, the SE history, the progress bar and the status line. */
export function showStep(report) {
  const step = report.globalStep;
  charts.loss.data[0].push(step);
  charts.loss.data[1].push(report.metrics.loss);
  charts.acc.data[0].push(step);
  charts.acc.data[1].push(report.runningAccuracy);
  charts.acc.data[2].push(report.epochEnd?.validation ? report.epochEnd.validation.accuracy : null);
  charts.lr.data[0].push(step);
  charts.lr.data[1].push(report.metrics.lr);
  for (const chart of Object.values(charts)) chart.plot.setData(chart.data);
  addHistoryStep(report.probeSeWeights);
  $('train-progress').value = step;
  const seconds = (performance.now() - started) / 1000;
  const eta = (seconds / step) * (report.totalSteps - step);
  $('train-status').textContent =
    `Epoch ${report.epoch + 1}/${report.epochs}, step ${step}/${report.totalSteps} — loss ${report.metrics.loss.toFixed(4)}, ` +
    `accuracy ${(report.runningAccuracy * 100).toFixed(1)} %, lr ${report.metrics.lr.toExponential(2)} — ` +
    `${(step / seconds).toFixed(2)} steps/s, about ${formatSeconds(eta)} left`;
}

/** After every epoch with validation images: its accuracy, per class and as a confusion matrix. */
export function showEpoch(end) {
  if (!end.validation) return;
  shown.lastEpoch = end;
  $('epoch-results').hidden = false;
  $('epoch-number').textContent = String(end.epoch);
  $('val-accuracy').textContent = `${(end.validation.accuracy * 100).toFixed(1)} % (${end.validation.count} images)`;
  perClassTable(end.validation, tuning.classes);
  confusionView(end.validation, tuning.classes);
}

/** The run as data to keep: the plan, the charts' series, the last epoch's tables, the status lines. */
export function progressSnapshot() {
  if (!charts) return null;
  return {
    plan: shown.plan,
    lastEpoch: shown.lastEpoch,
    classes: tuning.classes,
    series: Object.fromEntries(Object.entries(charts).map(([name, chart]) => [name, chart.data])),
    status: $('train-status').textContent,
    summary: $('start-summary').textContent,
  };
}

/** Draws a kept run again (project-restore.js): its charts, tables and status lines. */
export async function restoreProgress({ plan, lastEpoch, classes, series, status, summary }) {
  charts = await startProgress();
  shown = { plan, lastEpoch: null };
  for (const [name, chart] of Object.entries(charts)) {
    if (!series?.[name]) continue;
    chart.data.splice(0, chart.data.length, ...series[name]);
    chart.plot.setData(chart.data);
  }
  if (plan) {
    describePlan(plan);
    $('train-progress').max = plan.totalSteps;
    $('train-progress').value = series?.loss?.[0]?.at(-1) ?? 0;
  }
  tuning.classes = classes;
  if (lastEpoch) showEpoch(lastEpoch);
  $('train-status').textContent = status;
  $('start-summary').textContent = summary;
}
