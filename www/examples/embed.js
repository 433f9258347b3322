// The smallest useful page: load the model, classify a chosen file, list the top 5.
import { SeCnn } from '../secnn.js';

const status = document.getElementById('status');
const list = document.getElementById('top');

const model = await SeCnn.create(); // backend 'auto': WebGPU if the browser grants it, else CPU
status.textContent = `Ready: ${model.info.name} on ${model.backend.adapter}`;

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
