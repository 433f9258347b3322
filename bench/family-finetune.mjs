// Fine-tuning speed on the page for the seed's model and for a four-block, 64 px member of its
// family (issue 32): the module in headless Chromium on a cross-origin isolated page (the
// threaded CPU module, as `make serve` serves it), 256 noise images, batch 64, augmented, every
// layer trained, in alternating order; images/s is the median over the epochs after the first.
// The member is tests/fixtures/family/four_blocks_100.pth (widths 8/12/16/16, 100 classes), or
// the weights file at --member=PATH (a path in the repository, which the test server serves).
// Usage: node bench/family-finetune.mjs [ROUNDS]   (after `make web`)
import { launch, median } from './chromium.mjs';
import { startServer } from '../tools/serve.mjs';

const PORT = 18901;
const rounds = Number(process.argv[2] ?? 3);
const member = process.argv.find((a) => a.startsWith('--member='))?.slice('--member='.length) ?? 'tests/fixtures/family/four_blocks_100.pth';

/** In the page: images/s of a 3-epoch fine-tune of the model at `weights` (null: the shipped one). */
const throughput = (page, weights) => page.evaluate(async (weights) => {
  const { SeCnn } = await import('/www/secnn/secnn.js');
  const model = await SeCnn.create({ backend: 'cpu', ...(weights ? { weights } : {}) });
  let state = 7;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24;
  for (let i = 0; i < 256; i++) {
    const image = new ImageData(32, 32);
    for (let p = 0; p < image.data.length; p += 4) image.data.set([next(), next(), next(), 255], p);
    await model.addExample(image, i % 10);
  }
  const ends = [performance.now()];
  let plan = null;
  await model.fineTune({
    epochs: 4, batchSize: 64, freeze: 'none', augment: true, validationSplit: 0, learningRate: 1e-4, schedule: 'constant',
    onPlan: (p) => { plan = p; }, onStep: (report) => { if (report.epochEnd) ends.push(performance.now()); },
  }).done;
  const perEpoch = ends.slice(1).map((t, i) => plan.trainImages / ((t - ends[i]) / 1000));
  const result = { perEpoch, module: model.backend.module, threads: model.backend.threads, inputSize: model.facts.inputSize, widths: model.facts.blockWidths };
  model.terminate();
  return result;
}, weights);

const server = await startServer(PORT);
const browser = await launch(['--no-sandbox', '--no-first-run', '--disable-background-networking']);
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${PORT}/www/examples/embed.html`);
  const results = { seed: [], member: [] };
  const facts = {};
  for (let i = 0; i < rounds; i++) {
    for (const which of i % 2 ? ['member', 'seed'] : ['seed', 'member']) {
      const run = await throughput(page, which === 'seed' ? null : `/${member}`);
      const { perEpoch, ...rest } = run;
      facts[which] = rest;
      results[which].push(median(perEpoch.slice(1)));
    }
  }
  for (const which of ['seed', 'member']) {
    console.log(`${which} ${JSON.stringify(facts[which])}: ${median(results[which]).toFixed(1)} images/s (runs ${results[which].map((v) => v.toFixed(1)).join(', ')})`);
  }
  console.log(`member / seed: ${(median(results.member) / median(results.seed)).toFixed(3)}`);
} finally {
  await browser.close();
  server.kill();
}
