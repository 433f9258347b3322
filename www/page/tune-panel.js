// The fine-tune panel: collect labelled images (tune-data.js, tune-classes.js), start / pause /
// stop a run (tune-run.js), draw it live (tune-progress.js, tune-se-history.js) and keep the
// result (tune-weights.js). The work is kept in the browser as it changes (project-keeper.js),
// restored on the next visit (project-restore.js), and saved to or opened from a file
// (project-file.js). The training itself runs in the worker.
import { loadCharts } from './charts.js';
import { $ } from './page-dom.js';
import { setupClassList } from './tune-classes.js';
import { setupDataInputs, summarise } from './tune-data.js';
import { setupHistoryView } from './tune-se-history.js';
import { setupRunControls } from './tune-run.js';
import { setupWeights } from './tune-weights.js';
import { watchSettings } from './tune-settings.js';
import { keepProject } from './project-keeper.js';
import { restoreWork } from './project-restore.js';
import { setupProjectFiles } from './project-file.js';
import { setupLinks } from './page-link.js';

/** Wires the panel; app.js imports this module and calls it once the model has started. */
export async function setupTraining() {
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
  setupProjectFiles();
  setupLinks();
  watchSettings(keepProject);
  await restoreWork();
  summarise();
  document.body.dataset.workReady = 'true'; // the kept work is back (tests wait for it)
}
