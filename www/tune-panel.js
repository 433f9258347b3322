// The fine-tune panel: collect labelled images (tune-data.js, tune-classes.js), start / pause /
// stop a run (tune-run.js), draw it live (tune-progress.js, tune-se-history.js) and keep the
// result (tune-weights.js). The training itself runs in the worker.
import { loadCharts } from './charts.js';
import { $ } from './page-dom.js';
import { setupClassList } from './tune-classes.js';
import { setupDataInputs, summarise } from './tune-data.js';
import { setupHistoryView } from './tune-se-history.js';
import { setupRunControls } from './tune-run.js';
import { setupWeights } from './tune-weights.js';

/** Wires the panel; app.js imports this module and calls it once the model has started. */
export function setupTraining() {
  // The chart library loads when the panel is opened (a failure shows in the charts' place);
  // at once if it was opened before this module arrived.
  const loadChartsQuietly = () => loadCharts().catch(() => {});
  if ($('tab-train').getAttribute('aria-selected') === 'true') loadChartsQuietly();
  else $('tab-train').addEventListener('click', loadChartsQuietly, { once: true });
  setupClassList();
  setupDataInputs();
  setupHistoryView();
  setupRunControls();
  setupWeights();
  summarise();
}
