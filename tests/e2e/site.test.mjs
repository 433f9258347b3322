// `make site`'s folder, served under a sub-path as a project site is (/secnn/): it holds only
// what the page needs, starts, classifies, and works offline after the first visit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { MINUTES, root, shots, openPage, waitReady, classify } from './browser.mjs';
import { staticServer } from '../../tools/static-server.mjs';
import { siteFiles } from '../../tools/site.mjs';

const site = join(root, 'site');
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? walk(path) : [relative(site, path)];
});

test('site/ holds the page\'s files, each text and binary asset with brotli and gzip copies', () => {
  assert.ok(existsSync(site), 'site/ not found: run `make site` first');
  const expected = new Set([...siteFiles(), '_headers']);
  const originals = walk(site).filter((f) => !/\.(br|gz)$/.test(f));
  assert.deepEqual(originals.sort(), [...expected].sort());
  for (const file of originals.filter((f) => /\.(html|js|css|wasm|bpk|webmanifest|svg)$/.test(f))) {
    assert.ok(existsSync(join(site, `${file}.br`)) && existsSync(join(site, `${file}.gz`)), `${file} is not precompressed`);
  }
});

test('under a sub-path (/secnn/) the site classifies, and offline after one visit', { timeout: 10 * MINUTES }, async () => {
  const server = staticServer({ root: site, base: '/secnn/' });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/secnn/`;
  const { browser, page, problems } = await openPage({ webgpu: false, url });
  try {
    const sample = join(root, 'docs', 'screenshot.png');
    const online = await classify(page, sample); // the offline copy is made after the first prediction
    await page.waitForFunction(async () => (await navigator.serviceWorker.ready).active?.state === 'activated',
      null, { timeout: 3 * MINUTES });
    assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.ready).scope), url);
    await page.context().setOffline(true);
    await page.reload();
    await waitReady(page);
    assert.equal(await classify(page, sample), online, 'offline, the same image got another class');
    const before = await page.locator('#gallery li').count();
    await page.click('#examples button:first-child'); // the example strip works offline too
    await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length > n, before, { timeout: 2 * MINUTES });
    await page.screenshot({ path: join(shots, '10-site-subpath-offline.png') });
    assert.deepEqual(problems.filter((p) => !/ERR_INTERNET_DISCONNECTED/.test(p)), []);
  } finally {
    await browser.close();
    server.close();
  }
});

/** Which build the page's model runs, and on how many threads. */
const running = (page) => page.evaluate(async () => {
  const { page: state } = await import('./www/page/page-state.js');
  return { module: state.model.backend.module, threads: state.model.backend.threads, isolated: self.crossOriginIsolated };
});

test('on a host that cannot send COOP/COEP the service worker isolates the page: threads from the second visit', { timeout: 10 * MINUTES }, async () => {
  const server = staticServer({ root: site, base: '/secnn/', isolated: false });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/secnn/`;
  const { browser, page, problems } = await openPage({ webgpu: false, url });
  try {
    assert.deepEqual(await running(page), { module: 'cpu', threads: 1, isolated: false }, 'first visit');
    const sample = join(root, 'docs', 'screenshot.png');
    const first = await classify(page, sample); // the service worker registers after the first prediction
    await page.waitForFunction(async () => (await navigator.serviceWorker.ready).active?.state === 'activated',
      null, { timeout: 3 * MINUTES });
    await page.reload();
    await waitReady(page);
    // The pool starts behind the first calls: the badge says when it runs.
    if (cpus().length >= 2) await page.waitForFunction(() => document.querySelector('#backend-badge').textContent.includes('×'), null, { timeout: MINUTES });
    const second = await running(page);
    assert.equal(second.isolated, true, 'the service worker\'s headers did not isolate the page');
    // On one core the page keeps the single-threaded module, isolated or not.
    const threaded = cpus().length >= 2;
    assert.equal(second.module, threaded ? 'threads' : 'cpu');
    if (threaded) assert.ok(second.threads >= 2, `${second.threads} threads`);
    assert.equal(await classify(page, sample), first, 'the threaded module gave another class');
    if (threaded) assert.match(await page.textContent('#backend-badge'), /CPU ×\d/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    server.close();
  }
});
