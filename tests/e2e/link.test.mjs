// A link opens a model (issue 33): `?model=<URL>#sha256=<hex>` on the page, with the weights on a
// second local origin that sends CORS headers; the page classifies with them, says where they
// came from and goes back to the shipped model. Each failure is named and the shipped model keeps
// answering: a host without CORS, 404, a file over the size limit, a file that is not weights, a
// wrong hash, a model this crate cannot run. Share builds the link. Headless Chromium, CPU.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, truncateSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { MINUTES, URL, root, shots, work, openPage, startTestServer } from './browser.mjs';
import { staticServer } from '../../tools/static-server.mjs';

let server;
const hosts = {};
const dir = join(work, 'models');

/** A static server of `dir` on a free loopback port: `cors` says whether other sites may read it. */
async function host(cors) {
  const http = staticServer({ root: dir, cors, isolated: false });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${http.address().port}/`, close: () => http.close() };
}

/** A .safetensors file of one tensor `name` (shape [2]): a state_dict of something else. */
function foreignSafetensors() {
  const header = Buffer.from(JSON.stringify({ 'encoder.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(8)]);
}

before(async () => {
  server = await startTestServer();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'shipped.bpk'), readFileSync(join(root, 'www/secnn/model/secnn-cifar10.bpk')));
  writeFileSync(join(dir, 'notes.txt'), 'these are not weights\n');
  writeFileSync(join(dir, 'foreign.safetensors'), foreignSafetensors());
  // Sparse: 300 MB on paper, nothing on disk; the page refuses it from its Content-Length.
  closeSync(openSync(join(dir, 'huge.bpk'), 'w'));
  truncateSync(join(dir, 'huge.bpk'), 300 * 2 ** 20);
  hosts.cors = await host(true);
  hosts.plain = await host(false);
});
after(() => {
  server?.kill();
  Object.values(hosts).forEach((h) => h.close());
});

/** In `page`: a two-class model fine-tuned from the shipped one (its bytes), for the link to open. */
const customModel = (page) => page.evaluate(async () => {
  const { SeCnn } = await import('/www/secnn/secnn.js');
  const model = await SeCnn.create({ backend: 'cpu' });
  const grey = new ImageData(32, 32);
  for (let i = 0; i < 6; i++) {
    grey.data.fill(i % 2 ? 40 : 200);
    await model.addExample(grey, i % 2);
  }
  await model.fineTune({ classes: ['light', 'dark'], epochs: 1, batchSize: 2, validationSplit: 0 }).done;
  const bytes = Array.from(await model.exportWeights());
  model.terminate();
  return bytes;
});

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const classes = (page) => page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.info.classes);

/** The page at `?model=…` once the link has been handled: its alert text (or ''), and the model's classes. */
async function openLink(browser, modelUrl, hash = null) {
  const page = await browser.newPage();
  const address = `${URL}?model=${encodeURIComponent(modelUrl)}${hash ? `#sha256=${hash}` : ''}`;
  await page.goto(address);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 5 * MINUTES });
  await page.waitForFunction(() => !document.querySelector('#model-source').hidden || document.querySelector('#alerts').textContent, null, { timeout: 5 * MINUTES });
  return { page, alert: await page.textContent('#alerts'), classes: await classes(page) };
}

test('a link opens a model from another origin, checks its hash, says where it came from, and goes back', { timeout: 15 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    const bytes = Buffer.from(await customModel(page));
    writeFileSync(join(dir, 'custom.bpk'), bytes);
    const opened = await openLink(browser, `${hosts.cors.url}custom.bpk`, sha256(bytes));
    assert.equal(opened.alert, '', opened.alert);
    assert.deepEqual(opened.classes, ['light', 'dark']);
    assert.match(await opened.page.textContent('#model-source'), /Model from 127\.0\.0\.1:\d+\/custom\.bpk, not the shipped model/);
    assert.match(await opened.page.textContent('#link-status'), /SHA-256 matches/);
    await opened.page.setInputFiles('#file-input', join(root, 'tests/fixtures/pattern.png'));
    await opened.page.waitForSelector('#top5 li');
    assert.match(await opened.page.textContent('#top5'), /light|dark/, 'the page classifies with the linked model');
    await opened.page.screenshot({ path: join(shots, 'link-opened.png') });
    await opened.page.click('#model-source-back');
    await opened.page.waitForFunction(() => document.querySelector('#model-source').hidden);
    assert.equal((await classes(opened.page)).length, 10, 'the shipped model is back');
    assert.equal(new globalThis.URL(opened.page.url()).search, '', 'the address no longer links the model');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('each failure of a link is named and the shipped model keeps answering', { timeout: 15 * MINUTES }, async () => {
  const shipped = readFileSync(join(root, 'www/secnn/model/secnn-cifar10.bpk'));
  const cases = [
    ['a host without CORS', `${hosts.plain.url}shipped.bpk`, null, /does not let other sites read the file \(its host sends no CORS headers\).*Load weights/],
    ['404', `${hosts.cors.url}missing.bpk`, null, /there is no file there \(HTTP 404\)/],
    ['over the size limit', `${hosts.cors.url}huge.bpk`, null, /is 300 MB or more: weights are read up to 256 MB/],
    ['not weights', `${hosts.cors.url}notes.txt`, null, /is not a model this page can run/],
    ['a wrong hash', `${hosts.cors.url}shipped.bpk`, 'f'.repeat(64), /is not the file the link names: its SHA-256 does not match/],
    ['a model this crate cannot run', `${hosts.cors.url}foreign.safetensors`, null, /is not a model this page can run/],
    ['not https', 'http://example.invalid/model.bpk', null, /only over https/],
  ];
  const { browser } = await openPage({ webgpu: false, ready: false });
  try {
    for (const [what, url, hash, reason] of cases) {
      const { page, alert, classes: after } = await openLink(browser, url, hash);
      assert.match(alert, /was not opened/, `${what}: ${alert}`);
      assert.match(alert, reason, `${what}: ${alert}`);
      assert.match(alert, /The model from before is still in use/);
      assert.equal(after.length, 10, `${what}: the shipped model stays`);
      await page.setInputFiles('#file-input', join(root, 'tests/fixtures/pattern.png'));
      await page.waitForSelector('#top5 li', { timeout: 5 * MINUTES });
      await page.close();
    }
    // The hash that is right opens the same file.
    const { alert } = await openLink(browser, `${hosts.cors.url}shipped.bpk`, sha256(shipped));
    assert.equal(alert, '');
  } finally {
    await browser.close();
  }
});

test('Share builds a link with the hash from the URL where the file was put, and the link opens it', { timeout: 10 * MINUTES }, async () => {
  const { browser, page } = await openPage({ webgpu: false });
  try {
    await page.click('#tab-train');
    await page.click('.share summary');
    await page.fill('#share-url', `${hosts.cors.url}shipped.bpk`);
    await page.click('#share-build');
    await page.waitForFunction(() => document.querySelector('#share-link').value.includes('sha256='));
    const link = await page.inputValue('#share-link');
    const expected = sha256(readFileSync(join(dir, 'shipped.bpk')));
    assert.equal(new globalThis.URL(link).hash, `#sha256=${expected}`);
    assert.equal(new globalThis.URL(link).searchParams.get('model'), `${hosts.cors.url}shipped.bpk`);
    const opened = await browser.newPage();
    await opened.goto(link);
    await opened.waitForFunction(() => !document.querySelector('#model-source').hidden || document.querySelector('#alerts').textContent, null, { timeout: 5 * MINUTES });
    assert.equal(await opened.textContent('#alerts'), '');
    await page.fill('#share-url', `${hosts.plain.url}shipped.bpk`);
    await page.click('#share-build');
    await page.waitForFunction(() => document.querySelector('#share-status').textContent.startsWith('No link'));
    assert.match(await page.textContent('#share-status'), /CORS/);
  } finally {
    await browser.close();
  }
});
