// Nothing a visitor makes is lost (issue 36), in headless Chromium on the CPU backend: the work
// survives a reload before and after a fine-tune (same classes, photo counts, top-1 and
// probabilities to 1e-6), a model worker killed mid-run (the last kept epoch comes back), a full
// quota (named; nothing already kept is lost) and a second tab; a project goes page → file →
// `secnn eval` / `secnn train --init` → file → page; a zip of class folders opens as a dataset;
// bad archives and corrupted weights are refused by name with the work on the page unchanged;
// the module keeps models under `indexeddb://` as TF.js does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE_FLAGS, MINUTES, URL, root, shots, work, needCifar, cifarImages, startTestServer, cliBinary as cli } from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

const served = (path) => `/${path.slice(root.length + 1)}`;
/** The image every reload check classifies (a synthetic pattern), by URL on the test server. */
const FIXED = '/tests/fixtures/pattern.png';

/** A browser whose one context (one profile: its IndexedDB survives reloads) opens the page. */
async function openContext() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BASE_FLAGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  return { browser, context };
}

/** A page of `context`, ready, with its fine-tune panel set up (kept work restored). */
async function openPanel(context, problems = []) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', (dialog) => dialog.accept()); // confirmations ("Start over?", "Open … in place of your work?")
  await page.goto(URL);
  await waitPanel(page);
  return page;
}

/** The page ready (a restored project says so in an alert, so alerts alone are no failure here). */
async function waitPanel(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || /failed/.test(document.querySelector('#model-status').textContent), null, { timeout: 5 * MINUTES });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', `the page did not load: ${await page.textContent('#alerts')}`);
  await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 2 * MINUTES });
  await page.click('#tab-train');
}

/** Names the first two class rows and adds `n` training photos of `cls` to each. */
async function collect(page, [[nameA, clsA], [nameB, clsB]], n) {
  const rows = page.locator('[data-testid="class-row"]');
  await rows.nth(0).locator('input[type="text"]').fill(nameA);
  await rows.nth(1).locator('input[type="text"]').fill(nameB);
  await rows.nth(0).locator('input[type="file"]').setInputFiles(cifarImages(clsA, n, { split: 'train' }));
  await rows.nth(1).locator('input[type="file"]').setInputFiles(cifarImages(clsB, n, { split: 'train' }));
  await page.waitForFunction((count) => document.querySelector('#data-summary').textContent.match(/: (\d+)/g)?.every((m) => m === `: ${count}`), n);
  await settled(page);
}

/** Waits until every change made on the page is stored. */
const settled = (page) => page.evaluate(async () => (await import('/www/page/project-keeper.js')).settled());

/** The page's classes with their photo counts, from the panel's rows. */
const classRows = (page) => page.$$eval('[data-testid="class-row"]', (rows) => rows.map((row) => ({
  name: row.querySelector('input[type="text"]').value, count: row.querySelector('.muted').textContent,
})));

/** All the probabilities of the fixed image, by class, through the page's own model. */
const probabilities = (page) => page.evaluate(async (url) => {
  const { page: state } = await import('/www/page/page-state.js');
  const { top } = await state.model.classify(await (await fetch(url)).blob(), { topK: 1000 });
  return top.map(({ label, probability }) => [label, probability]);
}, FIXED);

function assertSameProbabilities(after, before) {
  assert.deepEqual(after.map(([label]) => label), before.map(([label]) => label), 'the same classes in the same order');
  for (const [i, [label, p]] of before.entries()) assert.ok(Math.abs(after[i][1] - p) <= 1e-6, `${label}: ${after[i][1]} after, ${p} before`);
}

async function fineTune(page, { epochs, validation = '0.25', batchSize = 4 }) {
  await page.fill('#epochs', String(epochs));
  await page.fill('#batch-size', String(batchSize));
  await page.fill('#val-split', validation);
  await page.selectOption('#freeze', 'head-attention');
  await page.click('#start-train');
}

const finished = (page) => page.waitForFunction(() => /^Training (finished|stopped|cancelled)/.test(document.querySelector('#train-status').textContent), null, { timeout: 15 * MINUTES });

test('collected photos survive a reload, before any training: classes, counts, the same probabilities', { timeout: 15 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, context } = await openContext();
  const problems = [];
  try {
    const page = await openPanel(context, problems);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 6);
    const rows = await classRows(page);
    const before = await probabilities(page);
    await page.reload();
    await waitPanel(page);
    assert.deepEqual(await classRows(page), rows);
    assert.match(await page.textContent('#alerts'), /Welcome back: restored 2 classes with 12 photo\(s\) \(saved /);
    assertSameProbabilities(await probabilities(page), before);
    const sizes = await page.evaluate(async () => (await (await (await import('/www/page/project-store.js')).ProjectStore.open()).load()).photos.map((p) => p.photo.size));
    assert.equal(sizes.length, 12);
    console.log(`kept photos: ${sizes.length}, ${Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length)} bytes each on average (CIFAR-10 32×32 JPEGs, kept as they are)`);
    await page.screenshot({ path: join(shots, 'keep-restored.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a fine-tune survives a reload: the model, its probabilities to 1e-6, its charts', { timeout: 20 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, context } = await openContext();
  const problems = [];
  try {
    const page = await openPanel(context, problems);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 8);
    await fineTune(page, { epochs: 2 });
    await finished(page);
    await settled(page);
    const before = await probabilities(page);
    const status = await page.textContent('#train-status');
    const model = await page.textContent('#model-status');
    await page.reload();
    await waitPanel(page);
    assert.equal(await page.textContent('#model-status'), model);
    assertSameProbabilities(await probabilities(page), before);
    assert.deepEqual((await classRows(page)).map((r) => r.count), ['8 image(s)', '8 image(s)']);
    assert.match(await page.textContent('#alerts'), /restored 2 classes with 16 photo\(s\), the fine-tuned model.*the last run's charts/);
    assert.equal(await page.textContent('#train-status'), status);
    assert.ok(await page.isVisible('#epoch-results'), 'the last epoch\'s tables are back');
    const points = await page.$eval('#chart-loss', (el) => el.querySelector('canvas') !== null);
    assert.ok(points, 'the loss chart is drawn again');
    assert.ok(await page.$eval('#se-history-3', (c) => c.width > 1), 'the SE history is drawn again');
    await page.screenshot({ path: join(shots, 'keep-fine-tuned-restored.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/**
 * The model worker dies (as when the browser kills it), then: the kept weights record (which
 * epoch) and what those bytes predict for the fixed image in a model of their own.
 */
const killWorkerAndReadKept = (page) => page.evaluate(async (url) => {
  const { page: state } = await import('/www/page/page-state.js');
  state.model.terminate();
  await new Promise((resolve) => setTimeout(resolve, 500)); // an epoch's write already under way lands
  await (await import('/www/page/project-keeper.js')).settled();
  const { ProjectStore } = await import('/www/page/project-store.js');
  const store = await ProjectStore.open();
  const { weights } = await store.load();
  store.close();
  const { SeCnn } = await import('/www/secnn/secnn.js');
  const model = await SeCnn.create({ backend: 'cpu', weights: weights.bytes });
  const { top } = await model.classify(await (await fetch(url)).blob(), { topK: 1000 });
  model.terminate();
  return { kept: weights.kept, status: weights.status, expected: top.map(({ label, probability }) => [label, probability]) };
}, FIXED);

test('the model worker killed mid-run leaves the last kept epoch, which comes back', { timeout: 20 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, context } = await openContext();
  try {
    const page = await openPanel(context);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 16);
    // 24 steps an epoch of one image each: a run long enough to be killed in the middle however
    // fast the CPU fine-tunes (with 6 steps of 4 it could end first).
    await fineTune(page, { epochs: 200, batchSize: 1 });
    await page.waitForFunction(() => Number(document.querySelector('#epoch-number').textContent) >= 2, null, { timeout: 10 * MINUTES });
    await settled(page);
    const { kept, status, expected } = await killWorkerAndReadKept(page);
    assert.equal(status, 'running', 'the weights kept are those of the run in progress');
    await page.waitForFunction(() => document.querySelector('#train-status').textContent.startsWith('Stopped'), null, { timeout: MINUTES });
    await page.reload();
    await waitPanel(page);
    const epoch = kept ? `epoch ${kept.epoch} of ${kept.epochs}` : '';
    assert.match(await page.textContent('#alerts'), new RegExp(`the model from the interrupted run.*${epoch}`));
    assertSameProbabilities(await probabilities(page), expected);
    assert.deepEqual(await page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.info.classes), ['cat', 'puppy']);
  } finally {
    await browser.close();
  }
});

test('a full quota is named, the page keeps working, and nothing already kept is lost', { timeout: 15 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, context } = await openContext();
  try {
    const page = await openPanel(context);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 4);
    const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new globalThis.URL(URL).origin, quotaSize: usage + 1024 });
    // Large photos (made on the page: noise does not compress) no longer fit.
    const big = await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(600, 400);
      const context2d = canvas.getContext('2d');
      const pixels = context2d.createImageData(600, 400);
      for (let i = 0; i < pixels.data.length; i++) pixels.data[i] = (i * 2654435761) >>> 24;
      context2d.putImageData(pixels, 0, 0);
      return Array.from(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
    });
    const files = [1, 2, 3].map((i) => ({ name: `noise-${i}.png`, mimeType: 'image/png', buffer: Buffer.from(big) }));
    await page.locator('[data-testid="class-row"]').nth(0).locator('input[type="file"]').setInputFiles(files);
    await page.waitForFunction(() => /storage is full: the photo noise-\d\.png was not kept/.test(document.querySelector('#alerts').textContent), null, { timeout: 2 * MINUTES });
    await page.waitForFunction(() => document.querySelector('[data-testid="class-row"] .muted').textContent === '7 image(s)', null, { timeout: 2 * MINUTES });
    assert.match(await page.textContent('#start-reason'), /^$/, 'the photos not kept are still on the page, ready to train');
    // The page keeps working: it still classifies.
    assert.equal((await probabilities(page)).length, 10);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new globalThis.URL(URL).origin });
    await page.reload();
    await waitPanel(page);
    const counts = (await classRows(page)).map((r) => Number.parseInt(r.count, 10));
    assert.ok(counts[0] >= 4 && counts[1] === 4, `what was kept before the quota ran out is back (${counts})`);
  } finally {
    await browser.close();
  }
});

test('two tabs: the second says the work is open elsewhere and keeps nothing, then takes over', { timeout: 15 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const { browser, context } = await openContext();
  try {
    const first = await openPanel(context);
    await collect(first, [['cat', 'cat'], ['puppy', 'dog']], 3);
    const second = await openPanel(context);
    assert.ok(await second.isVisible('#work-elsewhere'), 'the second tab says the work is open elsewhere');
    assert.deepEqual((await classRows(second)).map((r) => r.name), ['class A', 'class B'], 'the second tab did not load the first tab\'s work');
    await second.click('#add-class');
    await second.waitForTimeout(500);
    await first.close();
    await second.waitForFunction(() => /The other tab with this page closed/.test(document.querySelector('#alerts').textContent), null, { timeout: MINUTES });
    assert.ok(!(await second.isVisible('#work-elsewhere')));
    await second.reload();
    await waitPanel(second);
    assert.deepEqual(await classRows(second), [{ name: 'cat', count: '3 image(s)' }, { name: 'puppy', count: '3 image(s)' }],
      'the first tab\'s work, untouched by the second');
  } finally {
    await browser.close();
  }
});

/** Writes a zip with python3's zipfile: `entries` is [[name, base64 bytes, compress?]]. */
function writeZip(path, entries, { raw = null } = {}) {
  if (raw) { writeFileSync(path, raw); return path; }
  const script = 'import base64,json,sys,zipfile\n'
    + 'with zipfile.ZipFile(sys.argv[1], "w") as z:\n'
    + '    for name, data, deflate in json.load(sys.stdin):\n'
    + '        z.writestr(name, base64.b64decode(data), zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)\n';
  execFileSync('python3', ['-c', script, path], { input: JSON.stringify(entries) });
  return path;
}
const fileEntry = (name, file) => [name, readFileSync(file).toString('base64'), false];

/** Clears the alerts, does `action`, and returns the text of the first alert it raised. */
async function alertAfter(page, action) {
  await page.evaluate(() => document.querySelector('#alerts').replaceChildren());
  await action();
  await page.waitForFunction(() => document.querySelectorAll('#alerts .alert').length > 0, null, { timeout: 5 * MINUTES });
  return page.locator('#alerts .alert span').first().textContent();
}

/** Opens `file` with "Open project or dataset…" and returns what the page said. */
const openFile = (page, file) => alertAfter(page, () => page.setInputFiles('#open-project', file));

test('a zip of class folders opens as a dataset; bad archives are refused by name, the work stays', { timeout: 15 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  const dir = join(work, 'archives');
  mkdirSync(dir, { recursive: true });
  const good = writeZip(join(dir, 'pets.zip'), [
    ...cifarImages('cat', 3, { split: 'train' }).map((f, i) => fileEntry(`pets/cat/${i}.jpg`, f)),
    ...cifarImages('dog', 4, { split: 'train' }).map((f, i) => fileEntry(`pets/dog/${i}.jpg`, f)),
    ['pets/README.txt', Buffer.from('not an image').toString('base64'), true],
    ['__MACOSX/pets/._cat', Buffer.from('resource fork').toString('base64'), false],
  ]);
  const image = cifarImages('cat', 1, { split: 'train' })[0];
  const bad = {
    'not a zip': [writeZip(join(dir, 'notzip.zip'), [], { raw: Buffer.from('this is plain text, not a zip archive') }), /not a zip/i],
    'a zip bomb': [writeZip(join(dir, 'bomb.zip'), [['a/x.png', Buffer.alloc(8 << 20).toString('base64'), true], fileEntry('b/y.jpg', image)]), /zip bomb|ratio|uncompressed/i],
    'a path that escapes': [writeZip(join(dir, 'escape.zip'), [fileEntry('../evil/x.jpg', image), fileEntry('a/y.jpg', image), fileEntry('b/z.jpg', image)]), /escape|\.\./i],
    'an empty class': [writeZip(join(dir, 'empty.zip'), [fileEntry('a/x.jpg', image), fileEntry('b/y.jpg', image), ['c/', '', false]]), /empty|no images/i],
    'a class of non-images': [writeZip(join(dir, 'text.zip'), [fileEntry('a/x.jpg', image), fileEntry('b/y.jpg', image), ['c/notes.txt', Buffer.from('hello').toString('base64'), true]]), /not images|no images|non-image/i],
  };
  const { browser, context } = await openContext();
  try {
    const page = await openPanel(context);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 2);
    for (const [what, [file, reason]] of Object.entries(bad)) {
      const message = await openFile(page, file);
      assert.match(message, /was not opened/, `${what}: ${message}`);
      assert.match(message, reason, `${what}: ${message}`);
      assert.match(message, /Your work on the page is unchanged/);
      assert.deepEqual((await classRows(page)).map((r) => r.count), ['2 image(s)', '2 image(s)'], `${what}: the work stays`);
    }
    const opened = await openFile(page, good);
    assert.match(opened, /Opened pets\.zip: 2 classes with 7 photo\(s\) \(1 file\(s\) that are not images skipped\)/);
    assert.deepEqual(await classRows(page), [{ name: 'cat', count: '3 image(s)' }, { name: 'dog', count: '4 image(s)' }]);
    await settled(page);
    await page.reload();
    await waitPanel(page);
    assert.deepEqual(await classRows(page), [{ name: 'cat', count: '3 image(s)' }, { name: 'dog', count: '4 image(s)' }], 'the dataset is kept too');
  } finally {
    await browser.close();
  }
});

test('a project goes page → file → secnn eval and secnn train --init → file → page', { timeout: 25 * MINUTES }, async (t) => {
  if (!needCifar(t)) return;
  if (!existsSync(cli)) {
    console.log(`\n*** SKIPPED ${t.name}: ${cli} not built; run \`make build\` ***\n`);
    t.skip('the CLI is not built');
    return;
  }
  const dir = join(work, 'project');
  mkdirSync(dir, { recursive: true });
  const { browser, context } = await openContext();
  try {
    const page = await openPanel(context);
    await collect(page, [['cat', 'cat'], ['puppy', 'dog']], 10);
    await fineTune(page, { epochs: 1 });
    await finished(page);
    await settled(page);
    const before = await probabilities(page);
    const downloading = page.waitForEvent('download');
    await page.click('#save-project');
    const download = await downloading;
    const zip = join(dir, 'project.zip');
    await download.saveAs(zip);
    const sizeMb = readFileSync(zip).length / 1e6;
    console.log(`project file of 2 × 10 photos and a model: ${sizeMb.toFixed(2)} MB`);
    // The CLI reads the same file: it evaluates the project's own model on the project's photos…
    const evaluation = execFileSync(cli, ['eval', '--data', zip], { encoding: 'utf8' });
    assert.match(evaluation, /accuracy/i);
    assert.match(evaluation, /cat/);
    // …and trains on it, starting from its model.
    const run = join(dir, 'run');
    execFileSync(cli, ['train', '--data', zip, '--init', zip, '--out', run, '--epochs', '1', '--batch-size', '4', '--validation-split', '0'], { encoding: 'utf8' });
    const trained = join(run, 'model.bpk');
    assert.ok(existsSync(trained));
    // The file the CLI wrote loads on the page, with the project's classes.
    await page.setInputFiles('#load-weights', trained);
    await page.waitForFunction(() => /Loaded model\.bpk/.test(document.querySelector('#alerts').textContent), null, { timeout: MINUTES });
    assert.deepEqual(await page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.info.classes), ['cat', 'puppy']);
    // The project file opens in another browser profile with its classes, photos and model.
    const other = await openContext();
    try {
      const fresh = await openPanel(other.context);
      const message = await openFile(fresh, zip);
      assert.match(message, /Opened project\.zip: 2 classes with 20 photo\(s\), a model/);
      assert.deepEqual((await classRows(fresh)).map((r) => r.count), ['10 image(s)', '10 image(s)']);
      assertSameProbabilities(await probabilities(fresh), before);
      assert.ok(await fresh.isVisible('#epoch-results'), 'the project\'s last run is drawn');
    } finally {
      await other.browser.close();
    }
  } finally {
    await browser.close();
  }
});

test('corrupted weights are refused by name: a .bpk, a .pth and a stored model; the model stays', { timeout: 10 * MINUTES }, async () => {
  const dir = join(work, 'corrupt');
  mkdirSync(dir, { recursive: true });
  const bpk = readFileSync(join(root, 'www/secnn/model/secnn-cifar10.bpk'));
  bpk[bpk.length - 1000] ^= 0x55; // a weight of the last layers
  const pth = readFileSync(join(root, 'tests/fixtures/seed_cnn.pth'));
  pth[pth.length >> 1] ^= 0x55; // inside fc1's weights, which fill most of the file
  writeFileSync(join(dir, 'changed.bpk'), bpk);
  writeFileSync(join(dir, 'changed.pth'), pth);
  const { browser, context } = await openContext();
  try {
    const page = await openPanel(context);
    const model = await page.textContent('#model-status');
    for (const [file, reason] of [['changed.bpk', /corrupted.*checksum/i], ['changed.pth', /corrupted.*CRC-32/i]]) {
      const message = await alertAfter(page, () => page.setInputFiles('#load-weights', join(dir, file)));
      assert.match(message, new RegExp(`${file} was not loaded`), message);
      assert.match(message, reason, message);
      assert.equal(await page.textContent('#model-status'), model, 'the model stays');
    }
    const stored = await page.evaluate(async () => {
      const { page: state } = await import('/www/page/page-state.js');
      await state.model.save('indexeddb://mine');
      // A byte of the stored copy changes (a failing disk, an extension, a bug elsewhere).
      const db = await new Promise((resolve) => { const r = indexedDB.open('secnn-models'); r.onsuccess = () => resolve(r.result); });
      const record = await new Promise((resolve) => { const r = db.transaction('models').objectStore('models').get('mine'); r.onsuccess = () => resolve(r.result); });
      record.bytes[record.bytes.length - 1000] ^= 0x55;
      await new Promise((resolve) => { const tx = db.transaction('models', 'readwrite'); tx.objectStore('models').put(record); tx.oncomplete = resolve; });
      db.close();
      try {
        await state.model.loadWeights('indexeddb://mine');
        return 'loaded';
      } catch (error) {
        return { code: error.code, message: error.message };
      }
    });
    assert.equal(stored.code, 'corrupted', JSON.stringify(stored));
    assert.match(stored.message, /checksum/);
    assert.equal(await page.textContent('#model-status'), model, 'the model stays');
  } finally {
    await browser.close();
  }
});

test('the module keeps models in IndexedDB (TF.js\'s indexeddb://) and its examples as data', { timeout: 10 * MINUTES }, async () => {
  const { browser, context } = await openContext();
  try {
    const page = await context.newPage();
    await page.goto(`${URL}www/examples/embed.html`);
    const result = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const grey = new ImageData(32, 32);
      grey.data.fill(90);
      for (let i = 0; i < 6; i++) await model.addExample(grey, i % 2);
      const examples = await model.exportExamples();
      await model.fineTune({ classes: ['left', 'right'], epochs: 1, batchSize: 2, validationSplit: 0 }).done;
      const saved = await model.save('indexeddb://my-model');
      const expected = (await model.classify(grey, { topK: 2 })).top;
      model.terminate();
      const reopened = await SeCnn.create({ backend: 'cpu', weights: 'indexeddb://my-model' });
      const again = (await reopened.classify(grey, { topK: 2 })).top;
      const listed = await SeCnn.listSaved();
      await reopened.clearExamples();
      const imported = await reopened.importExamples(examples);
      const attempt = async (call) => { try { await call(); return 'accepted'; } catch (error) { return `${error.code}: ${error.message}`; } };
      const missing = await attempt(() => reopened.loadWeights('indexeddb://nothing-here'));
      const badName = await attempt(() => reopened.save('localstorage://x'));
      const removed = await SeCnn.removeSaved('my-model');
      const afterRemove = await SeCnn.listSaved();
      reopened.terminate();
      return { saved, expected, again, listed, imported, missing, badName, removed, afterRemove, examples: examples.length };
    });
    assert.equal(result.saved.url, 'indexeddb://my-model');
    assert.deepEqual(result.again, result.expected, 'the saved model classifies as it did');
    assert.deepEqual(result.listed.map((m) => [m.url, m.classes]), [['indexeddb://my-model', ['left', 'right']]]);
    assert.equal(result.examples, 12 + 6 * (2 + 3 * 32 * 32), "a 12-byte header (magic, version, side), then per example a u16 label and its pixels");
    assert.equal(result.imported, 6);
    assert.match(result.missing, /^fetch-failed: no model is saved as indexeddb:\/\/nothing-here/);
    assert.match(result.badName, /^invalid-argument: save: the URL must be 'indexeddb:\/\/<name>'/);
    assert.equal(result.removed, true);
    assert.deepEqual(result.afterRemove, []);
  } finally {
    await browser.close();
  }
});
