// Any member of the seed's family on the page (issue 32), in headless Chromium on the CPU: a
// four-block, 100-class, 64 px model PyTorch saved (tests/fixtures/family, made by
// make_family_variants.py) loads from its .pth, classifies and explains with one SE card per block
// at its own width; fine-tunes 20 custom classes and exports both ways; and CIFAR-100's binary
// format (files this test writes: a coarse byte, a fine byte, 3072 pixels) trains its 100 classes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MINUTES, root, shots, openPage, startTestServer, skipLoudly, cliBinary } from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

const FOUR_BLOCKS = join(root, 'tests/fixtures/family/four_blocks_100.pth');
const FOUR_BLOCKS_URL = '/tests/fixtures/family/four_blocks_100.pth';

const skip = (t, why) => skipLoudly(t, why, 'SECNN_REQUIRE_TORCH');

test('a four-block, 100-class, 64 px PyTorch model loads on the page and explains with four SE cards at their widths', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await page.click('#tab-train');
    await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 3 * MINUTES });
    await page.setInputFiles('#load-weights', FOUR_BLOCKS);
    await page.waitForFunction(() => /Loaded four_blocks_100\.pth/.test(document.querySelector('#alerts').textContent), null, { timeout: 2 * MINUTES });
    assert.match(await page.textContent('#alerts'), /\(100 classes\)/);
    const facts = await page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.facts);
    assert.equal(facts.inputSize, 64);
    assert.deepEqual(facts.blockWidths, [8, 12, 16, 16]);
    assert.deepEqual(facts.inputRule.size, 64);
    await page.click('#tab-classify');
    await page.click('#examples button.example');
    await page.waitForFunction(() => document.querySelectorAll('#se-blocks .se-block').length === 4, null, { timeout: 2 * MINUTES });
    const headings = await page.$$eval('#se-blocks .se-block h3', (h) => h.map((e) => e.textContent));
    assert.deepEqual(headings.map((h) => Number(h.match(/(\d+) channels/)[1])), [8, 12, 16, 16]);
    const bars = await page.$$eval('#se-blocks .se-bars', (all) => all.map((b) => b.children.length));
    assert.deepEqual(bars, [8, 12, 16, 16], 'one bar per channel in each block');
    assert.equal(await page.$$eval('#top5 li', (items) => items.length), 5);
    assert.equal(await page.textContent('#model-input-size'), '64×64', 'the caption says what the model sees');
    assert.equal(await page.textContent('#cam-block'), '4', 'Grad-CAM reads the last block');
    // "About this model" describes the member, not the shipped model.
    assert.match(await page.textContent('#about-input'), /^64×64 pictures into 100 classes \(.+, …\)$/);
    assert.equal(await page.textContent('#about-blocks'), 'four blocks (8, 12, 16 and 16 channels)');
    assert.match(await page.textContent('#about-parameters'), /^\d+\.\d\d million$/);
    assert.equal(await page.textContent('#about-side'), '64');
    await page.screenshot({ path: join(shots, 'family-four-blocks.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/** In the page: the module opened on `url`, given `perClass` drawn images of each of `classes` classes, fine-tuned for one epoch. */
const fineTuneCustom = (page, url, classes, perClass) => page.evaluate(async ({ url, classes, perClass }) => {
  const { SeCnn } = await import('/www/secnn/secnn.js');
  const model = await SeCnn.create({ backend: 'cpu', weights: url });
  const names = Array.from({ length: classes }, (_, i) => `class ${String.fromCharCode(65 + (i % 26))}${i}`);
  for (let label = 0; label < classes; label++) {
    for (let k = 0; k < perClass; k++) {
      const image = new ImageData(40, 40);
      for (let p = 0; p < 1600; p++) image.data.set([(label * 37 + k * 11) % 256, (p + label * 13) % 256, (label * 91) % 256, 255], 4 * p);
      await model.addExample(image, label);
    }
  }
  const run = model.fineTune({ classes: names, epochs: 1, batchSize: 8, validationSplit: 0 });
  const { status } = await run.done;
  const safetensors = await model.exportWeights({ format: 'safetensors' });
  const onnx = await model.exportWeights({ format: 'onnx' });
  const back = await SeCnn.create({ backend: 'cpu', weights: safetensors });
  const explained = await back.explain(new ImageData(64, 64), { topK: 3 });
  const base64 = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.split(',')[1]);
    reader.readAsDataURL(new Blob([safetensors]));
  });
  const result = {
    safetensors: base64, status, classes: model.info.classes.length, reloadedClasses: back.info.classes, names,
    blocks: explained.blocks.map((b) => b.seWeights.length), onnxBytes: onnx.length, reloadedFacts: back.facts,
  };
  model.terminate();
  back.terminate();
  return result;
}, { url, classes, perClass });

test('the four-block member fine-tunes 20 custom classes in the browser and exports to safetensors and ONNX', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const result = await fineTuneCustom(page, FOUR_BLOCKS_URL, 20, 2);
    assert.equal(result.status, 'done');
    assert.equal(result.classes, 20);
    assert.deepEqual(result.reloadedClasses, result.names, 'the exported safetensors carries the 20 names');
    assert.deepEqual(result.blocks, [8, 12, 16, 16]);
    assert.equal(result.reloadedFacts.inputSize, 64);
    assert.ok(result.onnxBytes > 10_000, `ONNX of ${result.onnxBytes} bytes`);
    writeFileSync(join(shots, 'family-20-classes.safetensors'), Buffer.from(result.safetensors, 'base64'));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the 20-class download for PyTorch loads strictly into the seed\'s class edited to the member, with the CLI\'s logits (tools/check_pytorch_export.py)', { timeout: 5 * MINUTES }, (t) => {
  const python = join(root, 'bench/.venv/bin/python');
  const weights = join(shots, 'family-20-classes.safetensors');
  if (!existsSync(weights)) return skip(t, `${weights} is missing: the fine-tune test above did not run`);
  if (!existsSync(cliBinary)) return skip(t, `${cliBinary} is not built (make build)`);
  if (spawnSync(python, ['-c', 'import torch, safetensors']).status !== 0) {
    return skip(t, 'bench/.venv has no torch (python3 -m venv bench/.venv && bench/.venv/bin/pip install -r bench/requirements.txt)');
  }
  const logits = join(shots, 'family-20-classes-logits.json');
  execFileSync(cliBinary, ['export', '--weights', weights, '-o', join(shots, 'family-20-classes-cli.safetensors'), '--logits', logits]);
  const report = execFileSync(python, [join(root, 'tools/check_pytorch_export.py'), weights, logits], { encoding: 'utf8' });
  console.log(report);
  assert.match(report, /20 classes .*loaded strictly into the seed's CNN edited to/);
});

/** CIFAR-100's binary format: per image a coarse label byte, a fine label byte, then 3072 pixel bytes (R, G, B planes). */
function cifar100Records(count) {
  const record = 2 + 3072;
  const bytes = new Uint8Array(count * record);
  for (let i = 0; i < count; i++) {
    bytes[i * record] = i % 20; // coarse: skipped
    bytes[i * record + 1] = i % 100; // fine
    for (let p = 0; p < 3072; p++) bytes[i * record + 2 + p] = (i * 7 + p * 3) % 256;
  }
  return bytes;
}

test('CIFAR-100 binary files (train.bin with fine_label_names.txt) train a 100-class model in the browser', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const names = Array.from({ length: 100 }, (_, i) => `fine${i}`);
    const result = await page.evaluate(async ({ records, names }) => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const added = await model.addCifarBatch(new File([new Uint8Array(records)], 'train.bin'));
      const named = await model.addCifarBatch(new File([names.join('\n')], 'fine_label_names.txt'));
      const classes = await model.exampleClasses();
      const { status } = await model.fineTune({ classes, epochs: 1, batchSize: 16, validationSplit: 0 }).done;
      const top = (await model.classify(new ImageData(32, 32), { topK: 1 })).top[0];
      const result = { added, named, classes, status, modelClasses: model.info.classes.length, top };
      model.terminate();
      return result;
    }, { records: Array.from(cifar100Records(200)), names });
    assert.equal(result.added, 200);
    assert.equal(result.named, 0, 'the names file adds no image');
    assert.deepEqual(result.classes, names);
    assert.equal(result.status, 'done');
    assert.equal(result.modelClasses, 100);
    assert.ok(names.includes(result.top.label), result.top.label);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
