// A visitor's work in and out of the page as files (issue 36), in headless Chromium on the CPU
// backend: a project goes page → file → `secnn eval` / `secnn train --init` → file → page; a zip
// of class folders opens as a dataset; bad archives and corrupted weights are refused by name
// with the work on the page unchanged; the module keeps models under `indexeddb://` as TF.js does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MINUTES, URL, root, work, needCifar, cifarImages, startTestServer, cliBinary as cli } from './browser.mjs';
import {
  assertSameProbabilities, classRows, collect, fineTune, finished, openContext, openPanel, probabilities, settled, waitPanel,
} from './keep-page.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

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
