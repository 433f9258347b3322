// A classify-only visit, counted where nothing escapes: at the server. The page's, the model
// worker's and the service worker's requests all count (a DevTools session attached to the page
// does not see the workers'). A browser with WebGPU opens the page, classifies one example and
// stays until the offline copy is made; the WebGPU module must not be among what it downloaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { MINUTES, BASE_FLAGS, root, shots, waitReady } from './browser.mjs';
import { recordingServer } from '../../tools/static-server.mjs';

const LIMIT = 2.0e6; // issue 23: a classify-only visit downloads ≤ 2.0 MB, WebGPU browser included

test('a classify-only visit downloads at most 2.0 MB, in a browser with WebGPU too', { timeout: 10 * MINUTES }, async () => {
  const site = await recordingServer({ root });
  const { requests } = site;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...BASE_FLAGS, '--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(site.url);
    await waitReady(page);
    assert.ok(await page.evaluate(() => Boolean(navigator.gpu)), 'this browser offers WebGPU');
    await page.click('#examples button.example');
    await page.waitForSelector('#top5 li', { timeout: 5 * MINUTES });
    // The offline copy starts after the first prediction: wait until it is installed, then a little more.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForTimeout(3000);
    const bytes = site.bytes();
    const byFile = Object.fromEntries(requests.filter((r) => r.bytes > 20_000).map((r) => [r.path, r.bytes]));
    const report = { bytes, requests: requests.length, largest: byFile };
    console.log(`classify-only visit: ${JSON.stringify(report)}`);
    writeFileSync(join(shots, 'visit-bytes.json'), JSON.stringify(report, null, 2));
    assert.ok(!requests.some((r) => r.path.endsWith('/pkg/secnn_bg.wasm')), 'the WebGPU module is not downloaded to classify');
    assert.ok(bytes <= LIMIT, `${bytes} bytes downloaded (limit ${LIMIT})`);
  } finally {
    await browser.close();
    site.close();
  }
});
