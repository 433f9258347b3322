// "Keep the result": download the model's weights, load a weights file, or go back to the
// shipped CIFAR-10 model. Loading replaces the model both panels use.
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { reportError, updateStatus } from './page-status.js';
import { forgetWeights, keepWeights } from './project-keeper.js';

/** Downloads the weights as `format` ('burnpack': secnn's file; 'safetensors': for PyTorch; 'onnx': for ONNX Runtime and the rest). */
async function downloadWeights(format) {
  try {
    const bytes = await page.model.exportWeights({ format });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const extension = { burnpack: 'bpk', safetensors: 'safetensors', onnx: 'onnx' }[format];
    link.download = `${page.model.info.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.${extension}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    reportError('Could not export the weights', error);
  }
}

async function loadWeightsFile(event) {
  const file = event.target.files[0];
  event.target.value = '';
  if (!file) return;
  try {
    await page.model.loadWeights(file);
    updateStatus();
    keepWeights(await page.model.exportWeights(), { status: 'loaded', classes: page.model.info.classes });
    showAlert(`Loaded ${file.name}: ${page.model.info.name} (${page.model.info.classes.length} classes).`, { kind: 'info' });
  } catch (error) {
    reportError(`${file.name} was not loaded (the current model is unchanged)`, error);
  }
}

async function restoreShipped() {
  try {
    await page.model.loadWeights(page.shippedBytes.slice());
    updateStatus();
    forgetWeights();
    showAlert('The shipped CIFAR-10 model is back.', { kind: 'info' });
  } catch (error) {
    reportError('Could not restore the shipped model', error);
  }
}

export function setupWeights() {
  $('download-weights').addEventListener('click', () => downloadWeights('burnpack'));
  $('download-pytorch').addEventListener('click', () => downloadWeights('safetensors'));
  $('download-onnx').addEventListener('click', () => downloadWeights('onnx'));
  $('load-weights').addEventListener('change', loadWeightsFile);
  $('restore-shipped').addEventListener('click', restoreShipped);
}
