// The smallest useful page: load the model, classify a chosen file, list the top 5.
import { SeCnn } from '../secnn/secnn.js';

const status = document.getElementById('status');
const list = document.getElementById('top');

// backend 'auto': ready at once on the small CPU module; WebGPU takes over when it has loaded.
const model = await SeCnn.create();
const showBackend = () => {
  const { adapter, loading } = model.backend;
  status.textContent = `Ready: ${model.info.name} on ${adapter}${loading ? ' (WebGPU loading…)' : ''}`;
};
showBackend();
model.addEventListener('backendchange', showBackend);

document.getElementById('file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const { top, milliseconds } = await model.classify(file, { topK: 5 });
    list.replaceChildren(...top.map(({ label, probability }) => {
      const item = document.createElement('li');
      item.textContent = `${label}: ${(probability * 100).toFixed(1)} %`;
      return item;
    }));
    status.textContent = `Classified in ${milliseconds.toFixed(1)} ms`;
  } catch (error) {
    status.textContent = `Could not classify ${file.name}: ${error.message}`;
  }
});
