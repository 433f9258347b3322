// One fine-tuning run of ROOT's module through the worker in headless Chromium, with V8 writing
// perf maps (bench/browser-profile.sh runs it under `perf record`). Prints
// `WINDOW start,end`: the second epoch's end and the run's end in CLOCK_MONOTONIC seconds.
//   node bench/browser-profile.mjs ROOT [full|head] [threads|cpu]
import { openBenchPage, serveRoot } from './chromium.mjs';
const [root, mode = 'full', module = 'threads'] = process.argv.slice(2);
const runs = {
  full: { images: 1024, epochs: 6, batchSize: 64, freeze: 'none', augment: true },
  head: { images: 4096, epochs: 6, batchSize: 64, freeze: 'head', augment: false },
};
const { server, origin } = await serveRoot(root);
// --no-liftoff: the optimizing tier from the start, so the profile is of the code that runs.
const { browser, page } = await openBenchPage(origin,
  ['--no-sandbox', '--disable-dev-shm-usage', '--js-flags=--perf-basic-prof --no-liftoff']);
const opened = await page.evaluate((m) => bench.secnn.open('cpu', m), module);
console.log('backend', JSON.stringify(opened.backend));
const result = await page.evaluate((options) => bench.secnn.fineTuneThroughput(options), runs[mode]);
// The page's clock against this process's monotonic clock (error: one round trip, ~1 ms).
const monotonic = () => Number(process.hrtime.bigint()) / 1e9;
const before = monotonic();
const pageNow = await page.evaluate(() => performance.now());
const offset = (before + monotonic()) / 2 - pageNow / 1000;
const [start, end] = [result.epochEnds[2], result.epochEnds.at(-1)].map((ms) => (ms / 1000 + offset).toFixed(3));
console.log(`${mode}: ${result.imagesPerSecond.toFixed(1)} images/s (epochs: ${result.perEpoch.map((r) => r.toFixed(0)).join(', ')})`);
console.log(`WINDOW ${start},${end}`);
await browser.close();
server.close();
