// First load of the demo page over a throttled link, as a visitor on a phone-class connection
// sees it: navigation → first prediction, and the bytes that crossed the network before it.
// Used by `make bench` (bench/browser.mjs) and the end-to-end tests (tests/e2e/offline.test.mjs).

import { recordingServer } from '../tools/static-server.mjs';

/** 10 Mbit/s, 40 ms latency: the link the targets in BENCHMARKS.md assume. */
export const LINK = { latencyMs: 40, bitsPerSecond: 10e6 };

/**
 * The page's files (`root`) served over LINK, every response counted: the page's and its
 * workers' alike (DevTools throttling of a page neither slows nor sees its workers' requests,
 * and the runtime is downloaded by the model's worker). Cross-origin isolated, as `make serve`
 * serves it, unless `isolated: false`. Resolves with `{ url, bytes(), close() }`.
 */
export const throttledSite = (root, { isolated = true } = {}) => recordingServer({ root, link: LINK, isolated });

/**
 * Opens `site` (a `throttledSite`) in `page` (the page's HTTP cache disabled when `cold`: give a
 * cold load a fresh browser context, whose workers have no cache either), gives the page `image`
 * the moment it is ready, and returns `{ downloadedMs, readyMs, firstPredictionMs, bytes,
 * backend }`. `downloadedMs`: the weights are in (the runtime downloads inside the worker).
 * `bytes`: the full size (compressed) of every response the server began before the prediction.
 */
export async function firstLoad(page, site, image, { cold = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: cold });
  const before = site.bytes();
  await page.goto(site.url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent,
    null, { timeout: 600_000 });
  const alert = await page.textContent('#alerts');
  if (alert) throw new Error(`the page did not load: ${alert}`);
  await page.setInputFiles('#file-input', image);
  await page.waitForFunction(() => performance.getEntriesByName('secnn:explained').length > 0, null, { timeout: 600_000 });
  const bytes = site.bytes() - before;
  const timing = await page.evaluate(() => {
    const at = (name) => performance.getEntriesByName(name)[0].startTime;
    return {
      downloadedMs: at('secnn:downloaded'),
      readyMs: at('secnn:ready'),
      firstPredictionMs: at('secnn:ready') + at('secnn:explained') - at('secnn:input'),
      backend: document.querySelector('#backend-badge').textContent.trim(),
    };
  });
  await cdp.detach();
  return { ...timing, bytes };
}
