// The fixture app: what a user writes after `npm install secnn`. It creates the model (CPU
// unless ?backend= says otherwise), classifies sample.png and shows the top class.
import { SeCnn } from 'secnn';

async function main() {
  const out = document.getElementById('top');
  try {
    const backend = new URLSearchParams(location.search).get('backend') ?? 'cpu';
    const model = await SeCnn.create({ backend });
    const image = await (await fetch('sample.png')).blob();
    const { top } = await model.classify(image);
    out.dataset.backend = model.backend.backend;
    out.dataset.module = model.backend.module;
    // The threaded module's pool starts behind the first calls: wait for it (or a few seconds).
    for (let i = 0; i < 100 && model.backend.module === 'threads' && model.backend.threads < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    out.dataset.threads = model.backend.threads;
    out.textContent = `${top[0].label} ${top[0].probability.toFixed(6)}`;
  } catch (error) {
    out.textContent = `error: ${error.message}`;
  }
}

main();
