// The inputs of the classify panel: photos chosen, dropped or pasted, the examples, the camera,
// and the options that explain the image on show again (mirror averaging, Grad-CAM's class).
// Each image is explained, shown, and kept in the gallery to come back to.
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { reportError } from './page-status.js';
import { showExplanation } from './page-explain.js';
import { renderSeBlocks } from './page-se-blocks.js';
import { setupExamples } from './examples.js';
import { setupCamera } from './camera.js';
import { setupLive } from './page-live.js';

let nextKey = 1; // gallery entries' keys: which thumbnail is the image on show

function addToGallery(entry) {
  const item = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.key = entry.key;
  button.setAttribute('aria-pressed', 'true');
  button.title = `${entry.file.name || 'pasted image'}: ${entry.explained.top[0].label}`;
  const thumb = document.createElement('img');
  thumb.src = entry.url;
  thumb.alt = button.title;
  button.append(thumb);
  button.addEventListener('click', async () => {
    page.current = entry;
    try { await showExplanation(entry); } catch (error) { reportError('Could not explain', error); }
  });
  item.append(button);
  $('gallery').prepend(item);
}

/** Explains each file in turn; one that fails gets an alert and the rest go on. */
async function classifyFiles(files) {
  performance.mark('secnn:input'); // with 'secnn:explained': the start-up benchmark's figure
  for (const file of files) {
    const name = file.name || 'pasted image';
    if (file.size === 0) {
      showAlert(`${name} is empty (0 bytes): nothing to classify.`);
      continue;
    }
    const entry = { key: String(nextKey++), file, url: URL.createObjectURL(file), explained: null };
    try {
      await showExplanation(entry);
    } catch (error) {
      URL.revokeObjectURL(entry.url);
      reportError(`Could not classify ${name}`, error);
      continue;
    }
    page.current = entry;
    addToGallery(entry);
    performance.mark('secnn:explained');
    const after = page.afterFirstPrediction.splice(0);
    after.forEach((run) => run());
  }
}

function setupFileInputs() {
  const zone = $('drop-zone');
  $('file-input').addEventListener('change', (event) => {
    classifyFiles([...event.target.files]);
    event.target.value = '';
  });
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    classifyFiles([...event.dataTransfer.files]);
  });
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); $('file-input').click(); }
  });
  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length && !$('panel-classify').hidden) classifyFiles(files);
  });
}

/** Mirror averaging and Grad-CAM's class: both explain the image on show again. */
function setupExplainOptions() {
  const explainAgain = async (context) => {
    if (!page.current) return;
    try { await showExplanation(page.current, Number($('cam-class').value)); } catch (error) { reportError(context, error); }
  };
  $('tta').addEventListener('change', () => explainAgain('Classify'));
  $('cam-class').addEventListener('change', () => explainAgain('Grad-CAM'));
  // The SE view switch redraws the explanation on show; nothing is computed again.
  document.querySelectorAll('input[name="se-compare"]').forEach((input) => input.addEventListener('change', () => {
    if (page.current?.explained) renderSeBlocks(page.current.explained, page.model.info.profiles, page.current.file);
  }));
}

export function setupInputs() {
  setupExamples($('examples'), $('random-example'), (file) => classifyFiles([file]));
  setupFileInputs();
  setupExplainOptions();
  const live = setupLive($('camera-video'));
  setupCamera((file) => classifyFiles([file]), { onClose: live.stop });
}
