// Same-run browser A/B of two CPU modules (www/secnn/pkg-cpu of two checkouts or unpacked builds):
// fine-tuning and batch-1 through the worker, alternating, in headless Chromium.
//   node bench/module-ab.mjs OTHER_ROOT [ROUNDS] [full|head]
// full (the default): 256 images, 3 epochs, everything trains, augmented; head: only the
// classifier head trains, on cached features (2,048 images, 4 epochs, not augmented).
// OTHER_ROOT holds www/ and bench/browser/ (e.g. a git worktree of an older commit after
// `make web`); it is compared with this checkout.
import { here, median, openBenchPage, requireFiles, serveRoot } from './chromium.mjs';
if (!process.argv[2]) { console.error('usage: node bench/module-ab.mjs OTHER_ROOT [ROUNDS] [full|head]'); process.exit(2); }
requireFiles(process.argv[2], ['www/secnn/pkg-threads', 'bench/browser', 'bench/node_modules']);
const runs = {
  full: { images: 256, epochs: 3, batchSize: 64, freeze: 'none', augment: true },
  head: { images: 2048, epochs: 4, batchSize: 64, freeze: 'head', augment: false },
};
const fineTune = runs[process.argv[4] ?? 'full'];
if (!fineTune) { console.error(`unknown mode ${process.argv[4]}: full or head`); process.exit(2); }
const roots = { old: process.argv[2], new: here };
const servers = {};
for (const [name, root] of Object.entries(roots)) servers[name] = await serveRoot(root);
const rounds = Number(process.argv[3] ?? 3);
const results = { old: [], new: [] };
const lat = { old: [], new: [] };
for (let i = 0; i < rounds; i++) {
  for (const name of i % 2 ? ['new', 'old'] : ['old', 'new']) {
    const { browser, page } = await openBenchPage(servers[name].origin);
    await page.evaluate(() => bench.secnn.open('cpu'));
    const l = await page.evaluate(() => bench.secnn.inferenceLatency({ runs: 3 }));
    const r = await page.evaluate((options) => bench.secnn.fineTuneThroughput(options), fineTune);
    results[name].push(r.imagesPerSecond); lat[name].push(l.medianMs);
    console.log(i, name, r.imagesPerSecond.toFixed(1), 'img/s', l.medianMs.toFixed(2), 'ms');
    await browser.close();
  }
}
console.log('fine-tune median old', median(results.old).toFixed(1), 'new', median(results.new).toFixed(1), 'ratio', (median(results.new) / median(results.old)).toFixed(2));
console.log('batch-1 median old', median(lat.old).toFixed(2), 'new', median(lat.new).toFixed(2));
for (const { server } of Object.values(servers)) server.close();
