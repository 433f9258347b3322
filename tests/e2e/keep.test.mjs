// Nothing a visitor makes is lost (issue 36), in headless Chromium on the CPU backend: the work
// survives a reload before and after a fine-tune (same classes, photo counts, top-1 and
// probabilities to 1e-6), a model worker killed mid-run (the last kept epoch comes back), a full
// quota (named; nothing already kept is lost) and a second tab. Files in and out of the page are
// project-files.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MINUTES, URL, shots, work, needCifar, startTestServer } from './browser.mjs';
import {
  FIXED, assertSameProbabilities, classRows, collect, fineTune, finished, openContext, openPanel, probabilities, settled, waitPanel,
} from './keep-page.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());


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

