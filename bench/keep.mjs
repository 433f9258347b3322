// The figures of issue 36 (work kept in the browser), in headless Chromium on the page as
// `make serve` serves it: a 200-photo project (2 classes × 100 phone-sized photos, 1600×1200
// JPEGs made from CIFAR-10 training images) is collected on the page, then
// - the bytes stored per photo (its small copy and its thumbnail),
// - the time to restore it on a reload (the marks 'secnn:restore-start' → 'secnn:restored'),
// - the size of the saved project file (photos as PNG, no model),
// and the median of RUNS reloads. Writes bench/results-keep/keep.json and prints the table
// BENCHMARKS.md quotes. Usage: node bench/keep.mjs   (after `make web` and `make data`)
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { launch, median } from './chromium.mjs';
import { startServer } from '../tools/serve.mjs';

const root = join(import.meta.dirname, '..');
const PORT = 18900;
const URL = `http://127.0.0.1:${PORT}/`;
const PER_CLASS = 100;
const RUNS = 5;
const FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const images = (cls) => readdirSync(join(root, 'data/cifar10/train', cls)).sort().slice(0, PER_CLASS).map((f) => `/data/cifar10/train/${cls}/${f}`);

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 600_000 });
}

/** In the page: each URL's image drawn at 1600×1200 as a JPEG (a phone photo's size) and added to class `index`. */
const addPhotos = (page, index, urls) => page.evaluate(async ({ index, urls }) => {
  const { tuning } = await import('/www/page/page-state.js');
  const files = [];
  for (const [i, url] of urls.entries()) {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const canvas = new OffscreenCanvas(1600, 1200);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, 1600, 1200);
    files.push(new File([await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.92 })], `photo-${i}.jpg`, { type: 'image/jpeg' }));
  }
  await tuning.customClasses[index].addFiles(files);
  await (await import('/www/page/project-keeper.js')).settled();
}, { index, urls });

const server = await startServer(PORT);
const browser = await launch(FLAGS);
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(URL);
  await ready(page);
  await addPhotos(page, 0, images('cat'));
  await addPhotos(page, 1, images('dog'));
  const stored = await page.evaluate(async () => {
    const { ProjectStore } = await import('/www/page/project-store.js');
    const { photos } = await (await ProjectStore.open()).load();
    return { count: photos.length, photo: photos.map((p) => p.photo.size), thumb: photos.map((p) => p.thumb?.size ?? 0) };
  });
  const restoreMs = [];
  for (let run = 0; run < RUNS; run++) {
    await page.reload();
    await ready(page);
    restoreMs.push(await page.evaluate(() => performance.measure('restore', 'secnn:restore-start', 'secnn:restored').duration));
  }
  await page.click('#tab-train');
  const downloading = page.waitForEvent('download');
  const started = Date.now();
  await page.click('#save-project');
  const download = await downloading;
  const saveMs = Date.now() - started;
  const dir = join(root, 'bench/results-keep');
  mkdirSync(dir, { recursive: true });
  const file = join(tmpdir(), 'secnn-project-2x100.zip'); // CIFAR-10 photos: never committed
  await download.saveAs(file);
  const { size } = await import('node:fs').then(({ statSync }) => statSync(file));
  const mean = (values) => Math.round(values.reduce((a, b) => a + b, 0) / values.length);
  const result = {
    photos: stored.count,
    bytesPerPhoto: mean(stored.photo),
    bytesPerThumbnail: mean(stored.thumb),
    restoreMs: { median: Math.round(median(restoreMs)), runs: restoreMs.map(Math.round) },
    saveProjectMs: saveMs,
    projectFileBytes: size,
    date: new Date().toISOString(),
  };
  writeFileSync(join(dir, 'keep.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log([
    '| figure | value |',
    '|---|---|',
    `| photos (2 classes × ${PER_CLASS}, 1600×1200 JPEGs) | ${result.photos} |`,
    `| bytes stored per photo (256 px short side, JPEG) + its 64 px thumbnail | ${result.bytesPerPhoto} + ${result.bytesPerThumbnail} |`,
    `| restore on reload, median of ${RUNS} | ${result.restoreMs.median} ms |`,
    `| saved project file (photos as PNG, no model) | ${(size / 1e6).toFixed(2)} MB (made in ${saveMs} ms) |`,
  ].join('\n'));
} finally {
  await browser.close();
  server.kill();
}
