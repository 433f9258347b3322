// First load of the demo page over a throttled link, as a visitor on a phone-class connection
// sees it: navigation → first prediction, and the bytes that crossed the network before it.
// Used by `make bench` (bench/browser.mjs) and the end-to-end tests (tests/e2e/offline.test.mjs).

/** 10 Mbit/s down and up, 40 ms latency: the link the targets in BENCHMARKS.md assume. */
export const THROTTLED = { offline: false, latency: 40, downloadThroughput: 10e6 / 8, uploadThroughput: 10e6 / 8 };

/**
 * Opens `url` in `page` over the throttled link (the HTTP cache disabled when `cold`), gives the
 * page `image` the moment it is ready, and returns `{ readyMs, firstPredictionMs, bytes,
 * backend }`. `bytes` counts what arrived on the wire (compressed) until the prediction.
 */
export async function firstLoad(page, url, image, { cold = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', THROTTLED);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: cold });
  let bytes = 0;
  let counting = true;
  cdp.on('Network.loadingFinished', (event) => { if (counting) bytes += event.encodedDataLength; });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent,
    null, { timeout: 600_000 });
  const alert = await page.textContent('#alerts');
  if (alert) throw new Error(`the page did not load: ${alert}`);
  await page.setInputFiles('#file-input', image);
  await page.waitForFunction(() => performance.getEntriesByName('secnn:explained').length > 0, null, { timeout: 600_000 });
  counting = false;
  const timing = await page.evaluate(() => {
    const at = (name) => performance.getEntriesByName(name)[0].startTime;
    return {
      downloadedMs: at('secnn:downloaded'),
      readyMs: at('secnn:ready'),
      firstPredictionMs: at('secnn:ready') + at('secnn:explained') - at('secnn:input'),
      backend: document.querySelector('#backend-badge').textContent.trim(),
    };
  });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.detach();
  return { ...timing, bytes };
}
