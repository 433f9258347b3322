// Served like a static host (precompressed, typed), installable, and offline after one visit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { MINUTES, URL, BASE_FLAGS, root, shots, startTestServer, openPage, classify } from './browser.mjs';
import { firstLoad, throttledSite } from '../../bench/first-load.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

test('the server sends precompressed files with their types', async () => {
  const wasm = await fetch(`${URL}www/secnn/pkg/secnn_bg.wasm`, { headers: { 'Accept-Encoding': 'br, gzip' } });
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal(wasm.headers.get('content-encoding'), 'br');
  assert.match(wasm.headers.get('vary'), /Accept-Encoding/);
  const body = new Uint8Array(await wasm.arrayBuffer()); // fetch decodes brotli
  assert.deepEqual([...body.subarray(0, 4)], [0, 0x61, 0x73, 0x6d], 'not a wasm module after decoding');
  const plain = await fetch(`${URL}www/secnn/pkg/secnn_bg.wasm`, { headers: { 'Accept-Encoding': 'identity' } });
  assert.equal(plain.headers.get('content-encoding'), null);
  assert.equal(Number(plain.headers.get('content-length')), body.length);
  const again = await fetch(`${URL}www/secnn/model/secnn-cifar10.bpk`, { headers: { 'If-None-Match': wasm.headers.get('etag') } });
  assert.equal(again.status, 200, 'another file\'s ETag must not match');
  const etag = again.headers.get('etag');
  assert.equal((await fetch(`${URL}www/secnn/model/secnn-cifar10.bpk`, { headers: { 'If-None-Match': etag } })).status, 304);
  assert.equal((await fetch(`${URL}../../etc/passwd`)).status, 404);
  const manifest = await (await fetch(`${URL}manifest.webmanifest`)).json();
  assert.equal(manifest.short_name, 'secnn');
});

test('after one visit the page classifies and fine-tunes offline', { timeout: 10 * MINUTES }, async () => {
  const png = join(root, 'docs', 'screenshot.png');
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await classify(page, png); // the offline copy is made after the first prediction
    await page.waitForFunction(async () => (await navigator.serviceWorker.ready).active?.state === 'activated',
      null, { timeout: 3 * MINUTES });
    const runningModule = () => page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.backend.module);
    const online = await runningModule();
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent,
      null, { timeout: 5 * MINUTES });
    assert.equal(await page.textContent('#alerts'), '', 'the page did not start offline');
    // The threaded module too (an isolated page runs it): kept offline, not swapped for the other.
    assert.equal(await runningModule(), online, 'offline, the page ran another CPU module');
    const label = await classify(page, png);
    assert.ok(label, 'no class offline');
    const status = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const grey = new ImageData(32, 32);
      grey.data.fill(128);
      for (let i = 0; i < 4; i++) await model.addExample(grey, i % 2);
      const { status } = await model.fineTune({ classes: ['a', 'b'], epochs: 1, batchSize: 2, validationSplit: 0 }).done;
      model.terminate();
      return status;
    });
    assert.equal(status, 'done');
    await page.screenshot({ path: join(shots, '09-offline.png'), fullPage: true });

    // A rebuilt file replaces the cached copy: online, the worker fetches the new one first and
    // keeps it, so offline it serves the new one too (never an older file next to newer ones).
    await page.context().setOffline(false);
    const file = join(root, 'manifest.webmanifest');
    const original = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, original.replace('"short_name": "secnn"', '"short_name": "secnn-rebuilt"'));
      const fetchName = () => page.evaluate(async () => (await (await fetch('manifest.webmanifest')).json()).short_name);
      assert.equal(await fetchName(), 'secnn-rebuilt', 'online: the new file');
      await page.context().setOffline(true);
      assert.equal(await fetchName(), 'secnn-rebuilt', 'offline: the cached copy was replaced');
    } finally {
      writeFileSync(file, original);
    }
    assert.deepEqual(problems.filter((p) => !/ERR_INTERNET_DISCONNECTED/.test(p)), []);
  } finally {
    await browser.close();
  }
});

test('first load over a 10 Mbit/s, 40 ms link: the CPU module first, a prediction in seconds', { timeout: 10 * MINUTES }, async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BASE_FLAGS });
  const site = await throttledSite(root);
  try {
    const page = await browser.newPage();
    const cold = await firstLoad(page, site, join(root, 'docs', 'screenshot.png'), { cold: true });
    console.log(`first load, throttled, cold: ${JSON.stringify(cold)}`);
    writeFileSync(join(shots, 'first-load.json'), JSON.stringify(cold, null, 2));
    assert.match(cold.backend, /CPU/);
    // What crossed the network: the page, the CPU module, the weights (not the WebGPU module).
    assert.ok(cold.bytes < 4e6, `${cold.bytes} bytes before the first prediction`);
    assert.ok(cold.firstPredictionMs < 60_000);
  } finally {
    await browser.close();
    site.close();
  }
});
