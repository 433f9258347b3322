// Same-run A/B of the page's cold first load over the throttled link of bench/first-load.mjs
// (10 Mbit/s, 40 ms): this checkout's page against another folder's (OTHER_ROOT: e.g. a git
// worktree of an older commit, built or given this checkout's modules), in alternating order,
// each load in a fresh browser context. Prints the medians of navigation → first prediction and
// of the bytes before it.
// Usage: OTHER_ROOT=/tmp/old node bench/first-load-ab.mjs [ROUNDS]   (after `make web` in both)
import { join } from 'node:path';
import { launch, median } from './chromium.mjs';
import { firstLoad, throttledSite } from './first-load.mjs';

const root = join(import.meta.dirname, '..');
const other = process.env.OTHER_ROOT;
if (!other) throw new Error('OTHER_ROOT must name the folder to compare with');
const rounds = Number(process.argv[2] ?? 5);
const image = join(root, 'tests/fixtures/pattern.png');

const sites = { this: await throttledSite(root), other: await throttledSite(other) };
const browser = await launch(['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']);
const results = { this: [], other: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? ['other', 'this'] : ['this', 'other']) {
      const context = await browser.newContext();
      const page = await context.newPage();
      results[name].push(await firstLoad(page, sites[name], image));
      await context.close();
    }
  }
} finally {
  await browser.close();
  Object.values(sites).forEach((site) => site.close());
}
for (const [name, runs] of Object.entries(results)) {
  const prediction = runs.map((r) => r.firstPredictionMs);
  console.log(`${name}: first prediction median ${Math.round(median(prediction))} ms (${prediction.map(Math.round).join(', ')}), ` +
    `bytes before it median ${median(runs.map((r) => r.bytes))}`);
}
