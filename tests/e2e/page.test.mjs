// End-to-end tests of the page in headless Chromium (playwright-core, Debian's chromium),
// served by tools/serve.sh — the command `make serve` runs. Screenshots of the main states
// go to test-output/ (ignored by git).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import {
  MINUTES, shots, work, needCifar, cifarImages, startTestServer, openPage, classify, canvasVaries, softwareGpu, assertAccessible,
} from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

/**
 * The first airplane of the test split: both backends' tests classify it on their own and must
 * find an airplane (the shipped weights give it 92 % natively), so they agree without one test
 * reading what another found.
 */
const PROBE_CLASS = 'airplane';

test('WebGPU granted: classifies CIFAR-10 test images and shows attention', { timeout: 20 * MINUTES }, async (t) => {
  const { browser, page, problems } = await openPage({ webgpu: true });
  try {
    // Ready on the CPU module at once; the WebGPU module waits for a sign of fine-tuning (the
    // Fine-tune tab), then loads behind it, both are timed, and the faster trainer runs the model.
    assert.match(await page.textContent('#backend-badge'), /CPU( ×\d+)? · WebGPU on demand/);
    await page.click('#tab-train');
    await page.click('#tab-classify');
    await page.waitForFunction(() => !/loading WebGPU|on demand/.test(document.querySelector('#backend-badge').textContent), null, { timeout: 10 * MINUTES });
    assert.match(await page.textContent('#model-status'), /CIFAR-10/);
    // The badge's tooltip gives both backends' figures behind the choice.
    assert.match(await page.getAttribute('#backend-badge', 'title'),
      /fine-tuning: this CPU [\d.]+ images\/s, WebGPU (under )?[\d.]+ images\/s.*one image: CPU [\d.]+ ms, WebGPU [\d.]+ ms/);
    // SwiftShader, the only WebGPU headless Chromium has here, is a software GPU: the CPU wins.
    if (await softwareGpu(page)) assert.match(await page.textContent('#backend-badge'), /^CPU( ×\d+)? · faster than WebGPU/);
    await page.screenshot({ path: join(shots, '01-ready.png'), fullPage: true });
    if (!needCifar(t)) return;
    const classes = ['airplane', 'automobile', 'ship', 'truck', 'frog', 'horse'];
    let right = 0;
    for (const cls of classes) {
      const label = await classify(page, cifarImages(cls, 1)[0]);
      if (label === cls) right++;
      if (cls === PROBE_CLASS) assert.equal(label, PROBE_CLASS, 'the probe image');
    }
    assert.ok(right >= 4, `only ${right}/${classes.length} classified right`);
    assert.equal(await page.locator('#top5 li').count(), 5);
    for (const block of [1, 2, 3]) {
      const bars = await page.locator(`#se-block-${block} > div`).count();
      assert.equal(bars, [32, 64, 128][block - 1]);
    }
    assert.ok(await canvasVaries(page, '#gradcam-canvas'), 'Grad-CAM overlay is blank');
    await page.selectOption('#cam-class', 'cat');
    await page.waitForFunction(() => document.querySelector('#gradcam-canvas').getAttribute('aria-label').includes('cat'), null, { timeout: 3 * MINUTES });
    await page.screenshot({ path: join(shots, '02-classified-webgpu.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/**
 * Records, in the page, the step reports the page's model hands to the page's `onStep` (the
 * module's public callback), at full precision, as `window.stepReports`: the status line shows
 * the loss to 4 decimals only, and a fine-tune that starts well reports losses near 1e-6.
 */
const recordStepReports = (page) => page.evaluate(async () => {
  const { SeCnn } = await import('/www/secnn/secnn.js'); // the page's own module instance
  const fineTune = SeCnn.prototype.fineTune;
  const reports = [];
  window.stepReports = reports;
  SeCnn.prototype.fineTune = function recorded(settings = {}) {
    const onStep = (report) => {
      reports.push({ step: report.globalStep, total: report.totalSteps, loss: report.metrics.loss });
      settings.onStep?.(report);
    };
    return fineTune.call(this, { ...settings, onStep });
  };
});

/**
 * The loss chart drew one point per reported step, at that step, with that step's loss: read
 * through the hook www/page/charts.js leaves on the element (`uplot`, and `data-points` written by
 * each draw).
 */
async function assertLossChartShows(page, reports) {
  assert.ok(reports.length > 0, 'the model reported no step');
  const total = reports.at(-1).total;
  assert.equal(reports.at(-1).step, total, `the last report is step ${reports.at(-1).step} of ${total}`);
  const chart = await page.$eval('#chart-loss', (element) => ({
    drawn: element.dataset.points,
    data: element.uplot?.data.map((series) => [...series]),
  }));
  assert.ok(chart.data, `no loss chart (uPlot did not load): ${await page.textContent('#chart-loss')}`);
  assert.equal(Number(chart.drawn), reports.length, 'the loss chart\'s last draw did not show every reported step');
  assert.deepEqual(chart.data[0], reports.map((r) => r.step), 'the loss chart\'s steps are not the reported ones');
  assert.deepEqual(chart.data[1], reports.map((r) => r.loss), 'the loss chart\'s values are not the reported losses');
}

test('fine-tunes two custom classes, and the downloaded weights load back', { timeout: 30 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, page, problems } = await openPage({ webgpu: true });
  try {
    await page.click('#tab-train');
    const rows = page.locator('[data-testid="class-row"]');
    await rows.nth(0).locator('input[type="text"]').fill('cats');
    await rows.nth(1).locator('input[type="text"]').fill('ships');
    await rows.nth(0).locator('input[type="file"]').setInputFiles(cifarImages('cat', 4));
    await rows.nth(1).locator('input[type="file"]').setInputFiles(cifarImages('ship', 4));
    await page.fill('#epochs', '3');
    await page.fill('#batch-size', '3');
    await page.fill('#val-split', '0.25');
    await page.selectOption('#freeze', 'head-attention'); // attention trains, so its heatmap changes
    await recordStepReports(page);
    await page.click('#start-train');
    await page.waitForFunction(() => document.querySelector('#train-status').textContent.startsWith('Training finished'), null, { timeout: 25 * MINUTES });
    assert.match(await page.textContent('#model-status'), /custom classes/);
    assert.ok(await canvasVaries(page, '#se-history-3'), 'the SE history heatmap did not grow');
    await assertLossChartShows(page, await page.evaluate(() => window.stepReports));
    assert.equal(await page.isHidden('#epoch-results'), false, 'no epoch results');
    await page.screenshot({ path: join(shots, '03-fine-tuned.png'), fullPage: true });
    await assertAccessible(page, 'fine-tuned');

    // Classify with the fine-tuned model, download, restore the shipped one, load the download.
    await page.click('#tab-classify');
    const probe = cifarImages('ship', 6)[5];
    const tuned = await classify(page, probe);
    const tunedProbability = await page.locator('#top5 .value').first().textContent();
    assert.ok(['cats', 'ships'].includes(tuned), tuned);
    await page.click('#tab-train');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-weights')]);
    const saved = join(work, 'custom.bpk');
    await download.saveAs(saved);
    await page.click('#restore-shipped');
    await page.waitForFunction(() => document.querySelector('#model-status').textContent.includes('CIFAR-10'));
    await page.setInputFiles('#load-weights', saved);
    await page.waitForFunction(() => document.querySelector('#model-status').textContent.includes('custom classes'));
    await page.click('#tab-classify');
    assert.equal(await classify(page, probe), tuned);
    assert.equal(await page.locator('#top5 .value').first().textContent(), tunedProbability);

    // The same model for PyTorch (.safetensors, the seed's names, the class names inside) loads back alike.
    await page.click('#tab-train');
    const [forPytorch] = await Promise.all([page.waitForEvent('download'), page.click('#download-pytorch')]);
    assert.match(forPytorch.suggestedFilename(), /\.safetensors$/);
    const pytorchFile = join(work, 'custom.safetensors');
    await forPytorch.saveAs(pytorchFile);
    await page.click('#restore-shipped');
    await page.waitForFunction(() => document.querySelector('#model-status').textContent.includes('CIFAR-10'));
    await page.setInputFiles('#load-weights', pytorchFile);
    await page.waitForFunction(() => /Loaded custom\.safetensors/.test(document.querySelector('#alerts').textContent));
    await page.click('#tab-classify');
    assert.equal(await classify(page, probe), tuned);
    assert.equal(await page.locator('#top5 .value').first().textContent(), tunedProbability);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('without WebGPU the page says CPU and classifies the same', { timeout: 10 * MINUTES }, async (t) => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    assert.match(await page.textContent('#backend-badge'), /CPU/);
    // "About this model" is written from the loaded model: for the shipped one, word for word
    // what the HTML holds, so nothing moves while the page loads.
    const about = await page.evaluate(async () => {
      const html = new DOMParser().parseFromString(await (await fetch('/')).text(), 'text/html');
      const text = (element) => element.textContent.replace(/\s+/g, ' ');
      return ['about-input', 'about-blocks', 'about-parameters', 'about-side']
        .map((id) => [text(document.getElementById(id)), text(html.getElementById(id))]);
    });
    for (const [shown, written] of about) assert.equal(shown, written);
    if (!needCifar(t)) return;
    assert.equal(await classify(page, cifarImages(PROBE_CLASS, 1)[0]), PROBE_CLASS, 'the probe image, which the WebGPU test classifies too');
    await page.screenshot({ path: join(shots, '04-cpu.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/** A valid PNG of width×height grey pixels (compresses to a few hundred kB). */
function bigPng(width, height) {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc = (buf) => { let c = -1; for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8); return (c ^ -1) >>> 0; };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  const raw = Buffer.alloc((width + 1) * height, 128);
  for (let y = 0; y < height; y++) raw[y * (width + 1)] = 0; // filter byte
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('bad inputs get specific messages and the page keeps working', { timeout: 15 * MINUTES }, async () => {
  const files = {
    text: join(work, 'notes.txt'),
    empty: join(work, 'empty.jpg'),
    corrupt: join(work, 'corrupt.jpg'),
    huge: join(work, 'huge.png'),
    weights: join(work, 'garbage.bpk'),
  };
  writeFileSync(files.text, 'this is not an image\n');
  writeFileSync(files.empty, '');
  writeFileSync(files.corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1, 2, 3, 4, 5]));
  writeFileSync(files.huge, bigPng(12000, 12000));
  writeFileSync(files.weights, Buffer.from('garbage weights, not a burnpack'));
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const expectAlert = async (pattern) => {
      await page.waitForFunction((source) => new RegExp(source).test(document.querySelector('#alerts').textContent), pattern.source, { timeout: 2 * MINUTES });
    };
    await page.setInputFiles('#file-input', files.text);
    await expectAlert(/notes\.txt: not a decodable image/);
    await page.setInputFiles('#file-input', files.empty);
    await expectAlert(/empty\.jpg is empty \(0 bytes\)/);
    await page.setInputFiles('#file-input', files.corrupt);
    await expectAlert(/corrupt\.jpg: not a decodable image/);
    await page.setInputFiles('#file-input', files.huge);
    await expectAlert(/huge\.png: image is 12000x12000 pixels, more than the \d+ megapixel limit/);
    await page.click('#tab-train');
    // No prediction yet: the panel's modules load at this first click (a visitor's file dialog takes longer).
    await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 3 * MINUTES });
    await page.setInputFiles('#load-weights', files.weights);
    await expectAlert(/garbage\.bpk was not loaded \(the current model is unchanged\): not a weights file/);
    await page.screenshot({ path: join(shots, '05-errors.png'), fullPage: true });
    await page.click('#tab-classify');
    // Still classifies, with the model it had.
    const png = join(work, 'ok.png');
    writeFileSync(png, bigPng(64, 48));
    await page.setInputFiles('#file-input', png);
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 1, null, { timeout: 5 * MINUTES });
    assert.match(await page.textContent('#model-status'), /CIFAR-10/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('readable at 360 px wide', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a 360px screen`);
    await page.screenshot({ path: join(shots, '06-narrow.png'), fullPage: true });
    // Keyboard: the tabs are reachable and switch with the arrow keys.
    await page.focus('#tab-classify');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-train', 'aria-selected'), 'true');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the module takes calls while it fine-tunes on WebGPU (its worker queues them)', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: true });
  try {
    const outcome = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'webgpu' });
      const grey = new ImageData(32, 32);
      grey.data.fill(128);
      for (let i = 0; i < 8; i++) await model.addExample(grey, i % 2);
      const run = model.fineTune({ epochs: 2, batchSize: 4, validationSplit: 0, classes: ['a', 'b'] });
      let finished = false;
      const done = run.done
        .then((result) => result.status, (error) => `failed: ${error.message}`)
        .finally(() => { finished = true; });
      const errors = [];
      let classified = 0;
      // WebGPU reads are asynchronous, so these arrive while a step holds the runtime.
      while (!finished) {
        try { await model.classify(grey); classified++; } catch (error) { errors.push(error.message); }
      }
      const status = await done;
      model.terminate();
      return { status, classified, errors };
    });
    assert.equal(outcome.status, 'done');
    assert.deepEqual(outcome.errors, []);
    assert.ok(outcome.classified > 0, 'no classification ran during fine-tuning');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('auto times training and one image on both backends, fine-tunes and classifies on the faster, and keeps the workers in step', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: true });
  try {
    const outcome = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const settled = (model) => new Promise((resolve) => {
        const check = () => { if (!model.backend.loading) resolve(model.backend); };
        model.addEventListener('backendchange', check);
        check();
      });
      const image = (value) => { const im = new ImageData(32, 32); im.data.fill(value); return im; };
      const model = await SeCnn.create({ backend: 'auto' });
      const backend = await settled(model);
      // Fine-tuning runs on the main worker (the faster trainer)…
      for (let i = 0; i < 8; i++) await model.addExample(image(i % 2 ? 220 : 30), i % 2);
      const { status } = await model.fineTune({ epochs: 1, batchSize: 4, validationSplit: 0, classes: ['dark', 'light'] }).done;
      const tuned = await model.classify(image(128));
      // …and whichever worker classifies answers like a CPU model given the exported weights.
      const reference = await SeCnn.create({ backend: 'cpu', weights: await model.exportWeights() });
      const expected = await reference.classify(image(128));
      const unprobed = await SeCnn.create({ backend: 'auto', probe: false });
      const switched = await settled(unprobed);
      for (const m of [model, reference, unprobed]) m.terminate();
      return { backend, status, tuned: tuned.top, expected: expected.top, switched };
    });
    console.log(`auto on this browser: ${JSON.stringify(outcome.backend)}`);
    assert.ok(outcome.backend.probe, `nothing timed: ${outcome.backend.fallbackReason}`);
    const { cpuMs, webgpuMs, training } = outcome.backend.probe;
    assert.ok(cpuMs > 0 && webgpuMs > 0 && training.cpu > 0 && training.webgpu > 0, 'no timings');
    const gpuTrains = !training.webgpuStopped && training.webgpu > training.cpu;
    assert.equal(outcome.backend.backend, gpuTrains ? 'webgpu' : 'cpu', 'fine-tunes on the slower backend');
    if (await softwareGpu(page)) assert.equal(outcome.backend.backend, 'cpu', 'a software GPU fine-tunes faster than the CPU?');
    const other = gpuTrains ? 'cpu' : 'webgpu';
    const otherFaster = gpuTrains ? cpuMs < webgpuMs : webgpuMs < cpuMs;
    assert.equal(outcome.backend.classifier, otherFaster ? other : null, 'classifies on the slower backend');
    assert.equal(outcome.status, 'done');
    assert.deepEqual(outcome.tuned.map((s) => s.label).sort(), ['dark', 'light'], 'the classifier kept the old weights');
    for (const [i, score] of outcome.tuned.entries()) {
      assert.equal(score.label, outcome.expected[i].label);
      assert.ok(Math.abs(score.probability - outcome.expected[i].probability) < 1e-4, `${score.probability} vs ${outcome.expected[i].probability}`);
    }
    assert.equal(outcome.switched.backend, 'webgpu');
    assert.equal(outcome.switched.classifier, null, 'probe: false still kept a classifier');
    assert.equal(outcome.switched.probe, null);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
