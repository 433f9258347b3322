// The ONNX export where models are deployed (issue 33): `exportWeights({ format: 'onnx' })` run
// in onnxruntime-web (npm) on its wasm execution provider, in headless Chromium, against this
// module's own logits and SE weights on CIFAR-10 test images: for the shipped model and for a
// model fine-tuned on the page. The page's Download ONNX button gives the same file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MINUTES, URL, root, shots, needCifar, cifarImages, openPage, startTestServer, skipLoudly, cliBinary } from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

const TOLERANCE = 1e-4;
const served = (path) => `/${path.slice(root.length + 1)}`;

/**
 * In the page: the largest differences between this module's explanations of `urls` and what
 * onnxruntime-web computes from the model's ONNX export on the same inputs (the normalised
 * input the module saw). `fineTune` first fine-tunes two custom classes on `trainUrls`.
 */
const compare = (page, urls, trainUrls = null) => page.evaluate(async ({ urls, trainUrls }) => {
  const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  ort.env.wasm.numThreads = 1;
  const { SeCnn } = await import('/www/secnn/secnn.js');
  const model = await SeCnn.create({ backend: 'cpu' });
  const blob = async (url) => (await fetch(url)).blob();
  if (trainUrls) {
    for (const [i, url] of trainUrls.entries()) await model.addExample(await blob(url), i % 2);
    await model.fineTune({ classes: ['first', 'second'], epochs: 1, batchSize: 4, validationSplit: 0, freeze: 'none' }).done;
  }
  const onnx = await model.exportWeights({ format: 'onnx' });
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
  const { inputSize: size, inputRule: { mean, std } } = model.facts;
  const worst = { logits: 0, se: 0, top1Agrees: true, outputs: session.outputNames, bytes: onnx.length };
  for (const url of urls) {
    const explained = await model.explain(await blob(url), { topK: 1 });
    const input = new Float32Array(3 * size * size);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) input[c * size * size + p] = (explained.inputRgba[4 * p + c] / 255 - mean[c]) / std[c];
    }
    const out = await session.run({ image: new ort.Tensor('float32', input, [1, 3, size, size]) });
    const diff = (a, b) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    worst.logits = Math.max(worst.logits, diff(out.logits.data, explained.logits));
    explained.blocks.forEach((block, i) => { worst.se = Math.max(worst.se, diff(out[`se${i + 1}`].data, block.seWeights)); });
    const onnxTop = out.logits.data.indexOf(Math.max(...out.logits.data));
    worst.top1Agrees &&= onnxTop === explained.top[0].index;
  }
  // The fine-tuned model's files, for onnxruntime (Python) to check against the CLI.
  const base64 = async (bytes) => (await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(new Blob([bytes]));
  })).split(',')[1];
  const files = trainUrls ? { onnx: await base64(onnx), burnpack: await base64(await model.exportWeights()) } : null;
  model.terminate();
  return { worst, files };
}, { urls, trainUrls });

const skip = (t, why) => skipLoudly(t, why, 'SECNN_REQUIRE_ONNXRUNTIME');

test('the exported ONNX runs in onnxruntime-web with this module\'s logits and SE weights, shipped and fine-tuned', { timeout: 20 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, page, problems } = await openPage({ webgpu: false, url: `${URL}www/examples/embed.html`, ready: false });
  try {
    const tests = ['airplane', 'cat', 'ship', 'truck', 'frog'].flatMap((cls) => cifarImages(cls, 2).map(served));
    const { worst: shipped } = await compare(page, tests);
    const train = ['cat', 'dog'].flatMap((cls) => cifarImages(cls, 8, { split: 'train' }).map(served));
    const { worst: tuned, files } = await compare(page, tests, train);
    for (const [name, data] of Object.entries({ 'tuned.onnx': files.onnx, 'tuned.bpk': files.burnpack })) {
      writeFileSync(join(shots, name), Buffer.from(data, 'base64'));
    }
    const report = { shipped, tuned };
    console.log(`ONNX in onnxruntime-web (wasm) against the module: ${JSON.stringify(report)}`);
    writeFileSync(join(shots, 'onnx-web.json'), JSON.stringify(report, null, 2));
    for (const [name, worst] of Object.entries(report)) {
      assert.deepEqual(worst.outputs, ['logits', 'se1', 'se2', 'se3'], `${name}: the graph's outputs`);
      assert.ok(worst.logits <= TOLERANCE, `${name}: logits differ by ${worst.logits}`);
      assert.ok(worst.se <= TOLERANCE, `${name}: SE weights differ by ${worst.se}`);
      assert.ok(worst.top1Agrees, `${name}: a top class differs`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the page\'s fine-tuned ONNX passes tools/check_onnx_export.py in onnxruntime (Python) against the CLI', { timeout: 5 * MINUTES }, (t) => {
  const python = join(root, 'bench/.venv/bin/python');
  const [onnx, burnpack] = ['tuned.onnx', 'tuned.bpk'].map((name) => join(shots, name));
  if (!existsSync(onnx)) return skip(t, `${onnx} is missing: the onnxruntime-web test above did not run`);
  if (!existsSync(cliBinary)) return skip(t, `${cliBinary} is not built (make build)`);
  if (spawnSync(python, ['-c', 'import onnx, onnxruntime']).status !== 0) {
    return skip(t, 'bench/.venv has no onnx and onnxruntime (python3 -m venv bench/.venv && bench/.venv/bin/pip install -r bench/requirements.txt)');
  }
  const [logits, se] = ['tuned-logits.json', 'tuned-se.json'].map((name) => join(shots, name));
  execFileSync(cliBinary, ['export', '--weights', burnpack, '--format', 'onnx', '-o', join(shots, 'tuned-cli.onnx'), '--logits', logits, '--se', se]);
  const report = execFileSync(python, [join(root, 'tools/check_onnx_export.py'), onnx, '--secnn', logits, se], { encoding: 'utf8' });
  console.log(`tools/check_onnx_export.py on the page's fine-tuned ONNX:\n${report}`);
  writeFileSync(join(shots, 'onnx-python.txt'), report);
});

test('the page\'s Download ONNX button saves the model as .onnx', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await page.click('#tab-train');
    await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 3 * MINUTES });
    const downloading = page.waitForEvent('download', { timeout: 3 * MINUTES });
    await page.click('#download-onnx');
    const download = await downloading;
    assert.match(download.suggestedFilename(), /\.onnx$/);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(path);
    assert.ok(bytes.length > 1e6, `${bytes.length} bytes`);
    assert.ok(bytes.includes(Buffer.from('secnn')), 'the file names its writer in its metadata');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
