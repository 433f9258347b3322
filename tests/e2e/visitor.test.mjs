// What a visitor hits first, in headless Chromium on the CPU backend: phone photos (EXIF
// orientation, 12 and 48 megapixels), SVG files, the seed's PyTorch files (.pth, .safetensors), wrong labels
// through the module, and a custom-class fine-tune that starts from what the model knows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  MINUTES, root, shots, work, needCifar, cifarImages, startTestServer, openPage, classify, canvasVaries,
} from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

const served = (path) => `/${path.slice(root.length + 1)}`;

/**
 * In the page: JPEGs made from a CIFAR-10 photo (upright 320×256; the same stored sideways with
 * EXIF orientation 6, as phones save portraits; both again at 1000×800, which the browser
 * decodes; and 12 and 48 MP versions), classified through the module.
 */
async function photoChecks(page, photoUrl) {
  return page.evaluate(async (url) => {
    const { SeCnn } = await import('/www/secnn/secnn.js');
    const model = await SeCnn.create({ backend: 'cpu' });
    const photo = await createImageBitmap(await (await fetch(url)).blob());
    const jpeg = async (width, height, draw) => {
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext('2d');
      context.imageSmoothingQuality = 'high';
      draw(context);
      return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.92 })).arrayBuffer());
    };
    // An APP1 block with a little-endian TIFF directory holding one entry: Orientation.
    const withOrientation = (bytes, orientation) => {
      const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
      const payload = [...new TextEncoder().encode('Exif'), 0, 0, ...tiff];
      const length = payload.length + 2;
      return new Uint8Array([0xff, 0xd8, 0xff, 0xe1, length >> 8, length & 255, ...payload, ...bytes.subarray(2)]);
    };
    const upright = await jpeg(320, 256, (c) => c.drawImage(photo, 0, 0, 320, 256));
    const sideways = await jpeg(256, 320, (c) => { c.translate(0, 320); c.rotate(-Math.PI / 2); c.drawImage(photo, 0, 0, 320, 256); });
    const diff = (a, b) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    const reference = await model.classify(upright);
    const tagged = await model.classify(withOrientation(sideways, 6));
    const untagged = await model.classify(sideways);
    // The same at 1000×800, which the browser decodes (scaled while decoding), not the Rust decoder.
    const largeUpright = await model.classify(await jpeg(1000, 800, (c) => c.drawImage(photo, 0, 0, 1000, 800)));
    const largeSideways = await jpeg(800, 1000, (c) => { c.translate(0, 1000); c.rotate(-Math.PI / 2); c.drawImage(photo, 0, 0, 1000, 800); });
    const largeTagged = await model.classify(withOrientation(largeSideways, 6));
    const largeUntagged = await model.classify(largeSideways);
    const big = {};
    for (const [name, width, height] of [['12MP', 4000, 3000], ['48MP', 8000, 6000]]) {
      const bytes = await jpeg(width, height, (c) => c.drawImage(photo, 0, 0, width, height));
      const started = performance.now();
      const result = await model.classify(new Blob([bytes], { type: 'image/jpeg' }));
      big[name] = { milliseconds: performance.now() - started, top: result.top[0].label, megabytes: bytes.length / 1e6 };
      if (name === '48MP') big.bytes48 = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
    }
    model.terminate();
    return {
      upright: reference.top[0].label,
      tagged: tagged.top[0].label,
      taggedDiff: diff(tagged.inputRgba, reference.inputRgba),
      untaggedDiff: diff(untagged.inputRgba, reference.inputRgba),
      largeTagged: largeTagged.top[0].label,
      largeTaggedDiff: diff(largeTagged.inputRgba, largeUpright.inputRgba),
      largeUntaggedDiff: diff(largeUntagged.inputRgba, largeUpright.inputRgba),
      big,
    };
  }, photoUrl);
}

test('phone photos: EXIF orientation is applied, 12 and 48 MP photos classify quickly', { timeout: 15 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const outcome = await photoChecks(page, served(cifarImages('ship', 1)[0]));
    assert.equal(outcome.tagged, outcome.upright, 'the sideways photo with its orientation tag is classified like the upright one');
    assert.ok(outcome.taggedDiff < 6, `the model input differs from the upright photo's by ${outcome.taggedDiff}`);
    assert.ok(outcome.untaggedDiff > 15, 'without the tag the input should differ: the check could not fail');
    assert.equal(outcome.largeTagged, outcome.upright, 'a large sideways photo (decoded by the browser) is turned upright');
    assert.ok(outcome.largeTaggedDiff < 6, `large: the model input differs from the upright photo's by ${outcome.largeTaggedDiff}`);
    assert.ok(outcome.largeUntaggedDiff > 15, 'large, without the tag the input should differ: the check could not fail');
    for (const name of ['12MP', '48MP']) {
      assert.equal(outcome.big[name].top, outcome.upright, `${name}: another answer than the small photo`);
    }
    const timings = { '12MP': outcome.big['12MP'], '48MP': outcome.big['48MP'] };
    console.log(`photo decode + classify in the browser (CPU backend): ${JSON.stringify(timings)}`);
    writeFileSync(join(shots, 'photo-timings.json'), JSON.stringify(timings, null, 2));
    // Not a timed test (the machine may be busy), but far from a stalled decoder.
    assert.ok(outcome.big['48MP'].milliseconds < 10_000, `48 MP took ${outcome.big['48MP'].milliseconds} ms`);

    // The CLI decodes the same 48 MP file itself and must agree.
    const cli = join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/secnn/target'), 'release', 'secnn');
    if (!existsSync(cli)) {
      console.log(`\n*** SKIPPED ${t.name}, its CLI comparison only: ${cli} not built; run \`make build\` to run it ***\n`);
    } else {
      const file = join(work, 'photo-48mp.jpg');
      writeFileSync(file, Buffer.from(outcome.big.bytes48, 'base64'));
      const report = JSON.parse(execFileSync(cli, ['predict', file, '--json', '--weights', join(root, 'www/secnn/model/secnn-cifar10.bpk')], { encoding: 'utf8' }));
      assert.equal(report[0].top[0].label, outcome.big['48MP'].top, 'CLI and browser disagree on the 48 MP photo');
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('SVG files classify on the page; the seed\'s .pth and .safetensors load and agree with the CLI import', { timeout: 10 * MINUTES }, async (t) => {
  const svg = join(work, 'sun.svg');
  writeFileSync(svg, '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="#3a7bd5"/><circle cx="60" cy="40" r="25" fill="#ffd200"/></svg>');
  const probe = join(root, 'tests/fixtures/pattern.png');
  const topLabels = () => page.$$eval('#top5 li', (items) => items.map((li) => li.querySelector('span').textContent));
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const label = await classify(page, svg);
    assert.ok(label && label.length > 0, 'no class shown for the SVG');
    await classify(page, probe);
    const shipped = await topLabels();
    /** Loads `file` through "Load weights…"; the alert it gets. */
    const loadOnPage = async (file) => {
      await page.click('#tab-train');
      await page.$eval('#alerts', (alerts) => alerts.replaceChildren());
      await page.setInputFiles('#load-weights', file);
      await page.waitForFunction(() => document.querySelector('#alerts').textContent.length > 0, null, { timeout: 2 * MINUTES });
      const alert = await page.textContent('#alerts');
      await page.click('#tab-classify');
      return alert;
    };
    assert.match(await loadOnPage(join(root, 'tests/fixtures/seed_cnn.pth')), /Loaded seed_cnn\.pth: SE-CNN \(PyTorch import\) \(10 classes\)/);
    // A state_dict of something else (legacy format): refused by the seed's names; the seed's model stays.
    assert.match(await loadOnPage(join(root, 'tests/fixtures/pth/legacy.pth')), /not loaded.*missing \[.*"conv1\.weight"/);
    await classify(page, probe);
    const fromPth = await topLabels();
    assert.equal(fromPth.length, 5);
    assert.notDeepEqual(fromPth, shipped, 'the seed fixture (random weights) ranks differently from the shipped model');
    const cli = join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/secnn/target'), 'release', 'secnn');
    if (!existsSync(cli)) {
      t.diagnostic(`*** SKIPPED the CLI comparison: ${cli} not built; run \`make build\` ***`);
      console.log(`\n*** SKIPPED ${t.name}, its CLI comparison only: ${cli} not built; run \`make build\` to run it ***\n`);
    } else {
      const bpk = join(work, 'seed.bpk');
      const safetensors = join(work, 'seed.safetensors');
      execFileSync(cli, ['import-pytorch', join(root, 'tests/fixtures/seed_cnn.pth'), '-o', bpk]);
      execFileSync(cli, ['export', '--weights', bpk, '-o', safetensors]);
      const report = JSON.parse(execFileSync(cli, ['predict', probe, '--json', '--weights', bpk], { encoding: 'utf8' }));
      assert.deepEqual(fromPth, report[0].top.map((entry) => entry.label), 'page (.pth) and CLI import agree on the top 5');
      assert.match(await loadOnPage(safetensors), /Loaded seed\.safetensors/);
      await classify(page, probe);
      assert.deepEqual(await topLabels(), fromPth, 'the same model as .safetensors ranks alike');
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('GIF, BMP and WebP classify through the browser\'s decoder, like the same pixels as PNG', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const results = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const canvas = new OffscreenCanvas(40, 30);
      const context = canvas.getContext('2d');
      const gradient = context.createLinearGradient(0, 0, 40, 30);
      gradient.addColorStop(0, '#1d4f91');
      gradient.addColorStop(1, '#f2c14e');
      context.fillStyle = gradient;
      context.fillRect(0, 0, 40, 30);
      const encoded = async (type) => new Uint8Array(await (await canvas.convertToBlob({ type })).arrayBuffer());
      // A 24-bit BMP of the same pixels: bottom-up BGR rows padded to 4 bytes.
      const { data } = context.getImageData(0, 0, 40, 30);
      const row = Math.ceil((40 * 3) / 4) * 4;
      const bmp = new Uint8Array(54 + row * 30);
      const view = new DataView(bmp.buffer);
      bmp.set([0x42, 0x4d]);
      [[2, bmp.length], [10, 54], [14, 40], [18, 40], [22, 30], [34, row * 30]].forEach(([at, v]) => view.setUint32(at, v, true));
      view.setUint16(26, 1, true);
      view.setUint16(28, 24, true);
      for (let y = 0; y < 30; y++) {
        for (let x = 0; x < 40; x++) {
          const from = 4 * (y * 40 + x);
          bmp.set([data[from + 2], data[from + 1], data[from]], 54 + (29 - y) * row + 3 * x);
        }
      }
      // A 1×1 GIF and a 1×1 PNG of one colour.
      const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 200, 60, 30, 0, 0, 0,
        0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]);
      const dot = new OffscreenCanvas(1, 1);
      const dotContext = dot.getContext('2d');
      dotContext.fillStyle = 'rgb(200, 60, 30)';
      dotContext.fillRect(0, 0, 1, 1);
      const dotPng = new Uint8Array(await (await dot.convertToBlob({ type: 'image/png' })).arrayBuffer());
      const top = async (bytes) => (await model.classify(bytes)).top.map((t) => [t.label, t.probability]);
      const out = { png: await top(await encoded('image/png')), bmp: await top(bmp), webp: await top(await encoded('image/webp')), gif: await top(gif), dotPng: await top(dotPng) };
      model.terminate();
      return out;
    });
    const close = (a, b, tolerance) => a.every(([label, p], i) => label === b[i][0] && Math.abs(p - b[i][1]) <= tolerance);
    assert.ok(close(results.bmp, results.png, 1e-5), `BMP ${JSON.stringify(results.bmp)} vs PNG ${JSON.stringify(results.png)}`);
    assert.ok(close(results.gif, results.dotPng, 1e-5), `GIF ${JSON.stringify(results.gif)} vs PNG ${JSON.stringify(results.dotPng)}`);
    assert.equal(results.webp.length, 5, 'WebP (lossy) classifies');
    assert.ok(Math.abs(results.webp[0][1] - results.png[0][1]) < 0.1, `WebP ${JSON.stringify(results.webp)} vs PNG ${JSON.stringify(results.png)}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the module refuses wrong labels and class lists with clear errors', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const errors = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const grey = new ImageData(32, 32);
      grey.data.fill(128);
      const attempt = async (call) => { try { await call(); return 'accepted'; } catch (error) { return error.message; } };
      const out = {
        name: await attempt(() => model.addExample(grey, 'cat')),
        fraction: await attempt(() => model.addExample(grey, 1.5)),
        tooBig: await attempt(() => model.addExample(grey, 100)),
        noExamples: await attempt(() => model.fineTune({ classes: ['a', 'b'] }).done),
      };
      for (let i = 0; i < 4; i++) await model.addExample(grey, i % 2);
      await model.addExample(grey, 3);
      out.outOfRange = await attempt(() => model.fineTune({ classes: ['a', 'b'] }).done);
      out.empty = await attempt(() => model.fineTune({ classes: [] }).done);
      out.duplicate = await attempt(() => model.fineTune({ classes: ['cat', 'Cat', 'dog', 'x'] }).done);
      out.notNames = await attempt(() => model.fineTune({ classes: 'cat,dog' }).done);
      model.terminate();
      return out;
    });
    assert.match(errors.name, /label must be a class index.* not "cat"/);
    assert.match(errors.fraction, /label must be a class index/);
    assert.match(errors.tooBig, /label must be a class index, an integer from 0 to 99, not 100/);
    assert.match(errors.noExamples, /add at least two labelled images/);
    assert.match(errors.outOfRange, /label 3, but labels must be class indices 0–1/);
    assert.match(errors.empty, /2 to 100 class names, got 0/);
    assert.match(errors.duplicate, /"Cat" appears twice/);
    assert.match(errors.notNames, /classes must be an array of class names/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('custom classes named like the model\'s start from its rows; attention change is visible', { timeout: 20 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await page.click('#tab-train');
    const rows = page.locator('[data-testid="class-row"]');
    await rows.nth(0).locator('input[type="text"]').fill('cat');
    await rows.nth(1).locator('input[type="text"]').fill('puppy');
    await rows.nth(0).locator('input[type="file"]').setInputFiles(cifarImages('cat', 12, { split: 'train' }));
    await rows.nth(1).locator('input[type="file"]').setInputFiles(cifarImages('dog', 12, { split: 'train' }));
    await page.fill('#epochs', '3');
    await page.fill('#batch-size', '4');
    await page.fill('#val-split', '0.25');
    await page.selectOption('#freeze', 'head-attention');
    await page.click('#start-train');
    await page.waitForFunction(() => document.querySelector('#start-summary').textContent.includes('Before training'), null, { timeout: 5 * MINUTES });
    const summary = await page.textContent('#start-summary');
    assert.match(summary, /cat: kept from the model/);
    assert.match(summary, /puppy: imprinted from its photos/);
    assert.match(summary, /Before training: \d+\.\d % on 6 validation images/);
    assert.match(await page.textContent('#validation-warning'), /only 6 validation images/);
    await page.waitForFunction(() => document.querySelector('#train-status').textContent.startsWith('Training finished'), null, { timeout: 15 * MINUTES });
    assert.match(await page.textContent('#train-status'), /kept the weights after epoch \d of 3/);
    assert.ok(await canvasVaries(page, '#se-history-3'), 'the change-since-start view is uniform after a head + attention fine-tune');
    assert.match(await page.textContent('#se-moved-3'), /moved most: #\d+/);
    await page.locator('#se-history').screenshot({ path: join(shots, '07-attention-change.png') });
    await page.check('#se-view-absolute');
    assert.ok(await canvasVaries(page, '#se-history-3'));
    await page.screenshot({ path: join(shots, '08-fine-tuned-custom.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
