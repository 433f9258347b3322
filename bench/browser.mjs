// Browser benchmark (part of `make bench`): secnn's wasm runtime against TensorFlow.js running
// the same architecture in the same headless Chromium, plus download sizes and cold start-up.
// Writes bench/results-browser/browser.json and the table between the `browser` markers in
// BENCHMARKS.md.
//
//   node bench/browser.mjs [--quick]     (needs `make web` and `npm ci --prefix bench`)
//   node bench/browser.mjs --from-json   (rewrites the table from the last results only)
//   node bench/browser.mjs --only=load,modules   (re-measures those parts, keeps the rest)
// Every part but `threads` runs on a page that is not cross-origin isolated (no threads, for
// secnn or TF.js); `threads` compares the threaded CPU module with the single-threaded one on a
// page that is, as `make serve` serves it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tools/serve.mjs';
import { firstLoad, throttledSite } from './first-load.mjs';
import { launch, median, openBenchPage } from './chromium.mjs';
import { table } from './browser-table.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const quick = process.argv.includes('--quick');
const fromJson = process.argv.includes('--from-json');
// Parts: startup (cold starts on localhost), load (throttled first loads), modules (CPU-only vs
// full module), page (secnn CPU, paired latency, WebGPU, TF.js), threads (threaded vs single-threaded module).
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const measures = (part) => !only || only.includes(part);
const RESULTS = join(root, 'bench', 'results-browser', 'browser.json');
const RUNS = quick ? 2 : 5;
const PORT = 19000 + (process.pid % 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ISOLATED_PORT = PORT + 1000;
const ISOLATED_ORIGIN = `http://127.0.0.1:${ISOLATED_PORT}`;
const BASE_FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const WEBGPU_FLAGS = [...BASE_FLAGS, '--enable-unsafe-webgpu'];
// How long a person takes to pick an image after the page is ready (the second start-up case).
const THINK_MS = 2000;

for (const [path, how] of [['www/secnn/pkg/secnn_bg.wasm', 'make web'], ['www/secnn/pkg-cpu/secnn_bg.wasm.br', 'make web'], ['bench/node_modules/@tensorflow/tfjs', 'npm ci --prefix bench']]) {
  if (!existsSync(join(root, path))) {
    console.error(`bench/browser.mjs: ${path} is missing; run \`${how}\` first`);
    process.exit(2);
  }
}

const log = (...args) => console.error('[bench]', ...args);

function sizes() {
  const file = (path) => {
    const bytes = readFileSync(join(root, path));
    const brotli = existsSync(join(root, `${path}.br`)) ? readFileSync(join(root, `${path}.br`)).length : null;
    return { path, bytes: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length, brotli };
  };
  return ['www/secnn/pkg-cpu/secnn_bg.wasm', 'www/secnn/pkg-cpu/secnn.js', 'www/secnn/pkg-threads/secnn_bg.wasm', 'www/secnn/pkg-threads/secnn.js', 'www/secnn/pkg/secnn_bg.wasm', 'www/secnn/pkg/secnn.js', 'www/secnn/model/secnn-cifar10.bpk']
    .map(file);
}

/**
 * First loads of the demo page over the throttled link (10 Mbit/s, 40 ms): cold (fresh profile,
 * HTTP cache disabled) and, in the same profile once the service worker holds its offline copy,
 * warm. Medians of `RUNS`.
 */
async function throttledLoads(flags) {
  const image = join(root, 'docs', 'screenshot.png');
  const cold = [];
  const warm = [];
  const site = await throttledSite(root);
  for (let i = 0; i < RUNS; i++) {
    const browser = await launch(flags);
    try {
      const context = await browser.newContext();
      const first = await context.newPage();
      cold.push(await firstLoad(first, site, image, { cold: true }));
      await first.waitForFunction(async () => (await navigator.serviceWorker.ready) && navigator.serviceWorker.controller !== null,
        null, { timeout: 600_000 });
      await first.close();
      warm.push(await firstLoad(await context.newPage(), site, image, { cold: false }));
    } finally {
      await browser.close();
    }
  }
  site.close();
  const pick = (list, key) => median(list.map((r) => r[key]));
  const summary = (list) => ({ firstPredictionMs: pick(list, 'firstPredictionMs'), readyMs: pick(list, 'readyMs'), bytes: pick(list, 'bytes'), runs: list });
  log('throttled first load: cold', Math.round(pick(cold, 'firstPredictionMs')), 'ms,', pick(cold, 'bytes'), 'bytes; warm', Math.round(pick(warm, 'firstPredictionMs')), 'ms');
  return { cold: summary(cold), warm: summary(warm) };
}

/**
 * The CPU-only module (size profile) against the full module's CPU path, same run: batch-1 on
 * the page in alternating pairs, and full fine-tuning through the module.
 */
async function moduleComparison(page, pairs) {
  const latency = [];
  for (let i = 0; i < pairs; i++) {
    const cpu = await page.evaluate(() => bench.secnn.pageLatency({ runs: 1, iterations: 100, warmup: 10, module: 'cpu' }));
    const full = await page.evaluate(() => bench.secnn.pageLatency({ runs: 1, iterations: 100, warmup: 10, module: 'webgpu' }));
    latency.push({ cpuModuleMs: cpu.medianMs, fullModuleMs: full.medianMs, ratio: cpu.medianMs / full.medianMs });
  }
  const fineTune = {};
  for (const module of ['webgpu', 'cpu', 'webgpu', 'cpu']) {
    await page.evaluate((m) => bench.secnn.open('cpu', m), module);
    const result = await page.evaluate((epochs) => bench.secnn.fineTuneThroughput({ images: 256, epochs, batchSize: 64, freeze: 'none', augment: true }), RUNS + 1);
    (fineTune[module] ??= []).push(result.imagesPerSecond);
  }
  const pick = (key) => median(latency.map((r) => r[key]));
  const result = {
    cpuModuleMs: pick('cpuModuleMs'), fullModuleMs: pick('fullModuleMs'), latencyRatio: pick('ratio'), pairs: latency,
    fineTuneCpuModule: median(fineTune.cpu), fineTuneFullModule: median(fineTune.webgpu),
  };
  result.fineTuneRatio = result.fineTuneCpuModule / result.fineTuneFullModule;
  log('CPU module vs full module: batch-1 ratio', result.latencyRatio.toFixed(3), 'fine-tune ratio', result.fineTuneRatio.toFixed(3));
  return result;
}

/**
 * Navigation → first prediction on the demo page with a cold cache (a fresh browser profile
 * each run). The image is supplied the moment the page says it is ready, so the figure is
 * `ready` (from the navigation start) plus the time the first explanation took.
 */
async function coldStart(flags, thinkMs = 0, origin = ORIGIN) {
  const browser = await launch(flags);
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent,
      null, { timeout: 600_000 });
    const alert = await page.textContent('#alerts');
    if (alert) throw new Error(`the page did not load: ${alert}`);
    if (thinkMs) await page.waitForTimeout(thinkMs);
    await page.setInputFiles('#file-input', join(root, 'docs', 'screenshot.png'));
    await page.waitForFunction(() => performance.getEntriesByName('secnn:explained').length > 0, null, { timeout: 600_000 });
    if (errors.length) throw new Error(errors.join('; '));
    return await page.evaluate(() => {
      const at = (name) => performance.getEntriesByName(name)[0].startTime;
      return {
        backend: document.querySelector('#backend-badge').textContent.trim(),
        readyMs: at('secnn:ready'),
        firstExplainMs: at('secnn:explained') - at('secnn:input'),
        firstPredictionMs: at('secnn:ready') + at('secnn:explained') - at('secnn:input'),
      };
    });
  } finally {
    await browser.close();
  }
}

function benchPage(flags, origin = ORIGIN) {
  return openBenchPage(origin, flags, log);
}

async function secnnCpu(page) {
  const opened = await page.evaluate(() => bench.secnn.open('cpu'));
  log('secnn cpu:', opened.backend.adapter);
  const latency = await page.evaluate((runs) => bench.secnn.inferenceLatency({ runs }), RUNS);
  log('secnn cpu batch-1', latency.medianMs.toFixed(2), 'ms');
  const full = await page.evaluate((epochs) => bench.secnn.fineTuneThroughput({ images: 256, epochs, batchSize: 64, freeze: 'none', augment: true }), RUNS + 1);
  log('secnn cpu full fine-tune', full.imagesPerSecond.toFixed(1), 'img/s');
  const head = await page.evaluate((epochs) => bench.secnn.fineTuneThroughput({ images: 2048, epochs, batchSize: 64, freeze: 'head', augment: false }), RUNS + 1);
  log('secnn cpu head-only fine-tune', head.imagesPerSecond.toFixed(0), 'img/s');
  // The batch-size lever: the page's default is 16 (small custom datasets want several steps an epoch).
  const byBatch = {};
  for (const batchSize of [16, 32, 128]) {
    byBatch[batchSize] = (await page.evaluate((options) => bench.secnn.fineTuneThroughput(options),
      { images: 256, epochs: 4, batchSize, freeze: 'none', augment: true })).imagesPerSecond;
  }
  byBatch[64] = full.imagesPerSecond;
  log('secnn cpu full fine-tune by batch size', JSON.stringify(byBatch));
  return { backend: opened.backend, openMs: opened.openMs, latency, full, head, byBatch };
}

/**
 * Like-for-like batch-1 latency: secnn's runtime and TF.js's wasm backend both on the page,
 * measured in alternation (A B A B …) so that drift hits both; the ratio is the median of the
 * pairs' ratios.
 */
async function pairedLatency(page, pairs) {
  const set = await page.evaluate(() => bench.tfjs.useBackend('wasm'));
  if (!set.ok) return { error: set.error };
  const results = [];
  for (let i = 0; i < pairs; i++) {
    const secnn = await page.evaluate(() => bench.secnn.pageLatency({ runs: 1, iterations: 100, warmup: 10, module: 'cpu' }));
    const tfjs = await page.evaluate(() => bench.tfjs.inferenceLatency({ runs: 1, iterations: 100, warmup: 10 }));
    results.push({ secnnMs: secnn.medianMs, tfjsMs: tfjs.medianMs, ratio: secnn.medianMs / tfjs.medianMs });
  }
  const pick = (key) => median(results.map((r) => r[key]));
  log('batch-1 on the page: secnn', pick('secnnMs').toFixed(2), 'ms, TF.js wasm', pick('tfjsMs').toFixed(2), 'ms, ratio', pick('ratio').toFixed(2));
  return { secnnMs: pick('secnnMs'), tfjsMs: pick('tfjsMs'), ratio: pick('ratio'), pairs: results };
}

/**
 * The threaded CPU module against the single-threaded one, same run, on a cross-origin
 * isolated page (as `make serve` serves it): full fine-tuning and batch-1 through the module
 * (alternating); batch-1 on the page against TF.js's wasm backend, which runs threaded there
 * too (paired); and the demo page's cold first prediction isolated (threaded module) and not.
 */
async function threadsComparison(rounds) {
  const { browser, page } = await benchPage(BASE_FLAGS, ISOLATED_ORIGIN);
  const result = { fineTune: { threads: [], cpu: [] }, latency: { threads: [], cpu: [] }, paired: [], coldStart: { threads: [], cpu: [] } };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const module of i % 2 ? ['cpu', 'threads'] : ['threads', 'cpu']) {
        const opened = await page.evaluate((m) => bench.secnn.open('cpu', m), module);
        if (opened.backend.module !== module) throw new Error(`asked for the ${module} module, got ${opened.backend.module}`);
        result.threadCount ??= module === 'threads' ? opened.backend.threads : undefined;
        const tuned = await page.evaluate(() => bench.secnn.fineTuneThroughput({ images: 256, epochs: 3, batchSize: 64, freeze: 'none', augment: true }));
        result.fineTune[module].push(tuned.imagesPerSecond);
        result.latency[module].push((await page.evaluate(() => bench.secnn.inferenceLatency({ runs: 3 }))).medianMs);
      }
    }
    const set = await page.evaluate(() => bench.tfjs.useBackend('wasm'));
    result.tfjsThreads = set.threads;
    for (let i = 0; set.ok && i < rounds; i++) {
      const threads = await page.evaluate(() => bench.secnn.pageLatency({ runs: 1, iterations: 100, warmup: 10, module: 'threads' }));
      const cpu = await page.evaluate(() => bench.secnn.pageLatency({ runs: 1, iterations: 100, warmup: 10, module: 'cpu' }));
      const tfjs = await page.evaluate(() => bench.tfjs.inferenceLatency({ runs: 1, iterations: 100, warmup: 10 }));
      result.paired.push({ threadsMs: threads.medianMs, cpuMs: cpu.medianMs, tfjsMs: tfjs.medianMs, ratio: threads.medianMs / tfjs.medianMs });
    }
  } finally {
    await browser.close();
  }
  for (let i = 0; i < rounds; i++) {
    result.coldStart.threads.push((await coldStart(BASE_FLAGS, 0, ISOLATED_ORIGIN)).firstPredictionMs);
    result.coldStart.cpu.push((await coldStart(BASE_FLAGS, 0, ORIGIN)).firstPredictionMs);
  }
  // The same over the throttled link (cold), where the downloads dominate.
  result.throttled = { threads: [], cpu: [] };
  const sites = { threads: await throttledSite(root), cpu: await throttledSite(root, { isolated: false }) };
  for (let i = 0; i < rounds; i++) {
    for (const module of i % 2 ? ['cpu', 'threads'] : ['threads', 'cpu']) {
      const browser = await launch(BASE_FLAGS);
      try {
        const load = await firstLoad(await browser.newPage(), sites[module], join(root, 'docs', 'screenshot.png'), { cold: true });
        result.throttled[module].push({ firstPredictionMs: load.firstPredictionMs, bytes: load.bytes });
      } finally {
        await browser.close();
      }
    }
  }
  for (const site of Object.values(sites)) site.close();
  const pick = (list) => median(list);
  result.summary = {
    fineTuneThreads: pick(result.fineTune.threads), fineTuneCpu: pick(result.fineTune.cpu),
    latencyThreadsMs: pick(result.latency.threads), latencyCpuMs: pick(result.latency.cpu),
    pageThreadsMs: pick(result.paired.map((p) => p.threadsMs)), pageCpuMs: pick(result.paired.map((p) => p.cpuMs)),
    pageTfjsMs: pick(result.paired.map((p) => p.tfjsMs)), pageRatio: pick(result.paired.map((p) => p.ratio)),
    coldThreadsMs: pick(result.coldStart.threads), coldCpuMs: pick(result.coldStart.cpu),
    throttledThreadsMs: pick(result.throttled.threads.map((r) => r.firstPredictionMs)),
    throttledCpuMs: pick(result.throttled.cpu.map((r) => r.firstPredictionMs)),
    throttledThreadsBytes: pick(result.throttled.threads.map((r) => r.bytes)),
    throttledCpuBytes: pick(result.throttled.cpu.map((r) => r.bytes)),
  };
  result.summary.fineTuneRatio = result.summary.fineTuneThreads / result.summary.fineTuneCpu;
  log('threads:', JSON.stringify(result.summary));
  return result;
}

async function secnnWebgpu(page) {
  const opened = await page.evaluate(() => bench.secnn.open('webgpu'));
  log('secnn webgpu:', opened.backend.adapter);
  const latency = await page.evaluate(() => bench.secnn.inferenceLatency({ runs: 3, iterations: 10, warmup: 3 }));
  const full = await page.evaluate(() => bench.secnn.fineTuneThroughput({ images: 32, epochs: 3, batchSize: 16, freeze: 'none', augment: false }));
  return { backend: opened.backend, openMs: opened.openMs, latency, full };
}

async function tfjs(page) {
  const result = {};
  const wasm = await page.evaluate(() => bench.tfjs.useBackend('wasm'));
  result.wasm = { ...wasm };
  if (wasm.ok) {
    result.wasm.model = await page.evaluate(() => bench.tfjs.modelInfo());
    result.wasm.training = await page.evaluate(() => bench.tfjs.trainingThroughput({ batch: 64, steps: 2, runs: 1, timeLimitMs: 60_000 }));
  }
  // TF.js's other CPU-side backends, for training (its wasm backend cannot train this model).
  for (const name of ['cpu', 'webgl']) {
    const set = await page.evaluate((n) => bench.tfjs.useBackend(n), name);
    result[name] = { ...set };
    if (!set.ok) continue;
    result[name].latency = await page.evaluate(() => bench.tfjs.inferenceLatency({ runs: 3, iterations: 10, warmup: 3 }));
    result[name].training = await page.evaluate((limit) => bench.tfjs.trainingThroughput({ batch: 16, steps: 2, runs: 5, timeLimitMs: limit }), quick ? 30_000 : 90_000);
    log(`tfjs ${name} training`, JSON.stringify(result[name].training.medianImagesPerSecond ?? result[name].training.error));
  }
  return result;
}

function chromiumVersion() {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/chromium', ['--version']);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', () => resolve(out.trim()));
  });
}

function writeTable(results) {
  const markdown = table(results, { runs: RUNS, thinkMs: THINK_MS });
  console.log(markdown);
  if (quick) return;
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  if (!text.includes('<!-- browser:start -->')) throw new Error('BENCHMARKS.md has no browser markers');
  writeFileSync(path, text.replace(/<!-- browser:start -->[\s\S]*?<!-- browser:end -->/, () => `<!-- browser:start -->\n${markdown}\n<!-- browser:end -->`));
}

async function main() {
  if (fromJson) {
    writeTable(JSON.parse(readFileSync(RESULTS, 'utf8')));
    return;
  }
  const server = await startServer(PORT, { isolation: 'off' });
  const isolatedServer = await startServer(ISOLATED_PORT);
  try {
    const previous = only ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
    const results = {
      ...previous,
      date: new Date().toISOString(),
      machine: { cpu: cpus()[0].model.trim(), cores: cpus().length, chromium: await chromiumVersion() },
      files: sizes(),
    };
    // When each part was last measured (a partial run keeps the others' figures and dates).
    results.measured = { ...(previous.measured ?? {}) };
    for (const part of ['startup', 'load', 'modules', 'page', 'threads']) {
      if (measures(part)) results.measured[part] = results.date;
      else results.measured[part] ??= previous.date;
    }
    if (measures('startup')) results.startup = [];
    for (const [label, flags] of measures('startup') ? [['CPU (no WebGPU)', BASE_FLAGS], ['WebGPU (SwiftShader, software)', WEBGPU_FLAGS]] : []) {
      const runs = [];
      const later = [];
      for (let i = 0; i < RUNS; i++) {
        runs.push(await coldStart(flags));
        later.push(await coldStart(flags, THINK_MS));
      }
      const pick = (list, key) => median(list.map((r) => r[key]));
      results.startup.push({
        label, backend: runs[0].backend, readyMs: pick(runs, 'readyMs'), firstExplainMs: pick(runs, 'firstExplainMs'),
        firstPredictionMs: pick(runs, 'firstPredictionMs'), firstExplainLaterMs: pick(later, 'firstExplainMs'), runs, later,
      });
      log('cold start', label, Math.round(pick(runs, 'firstPredictionMs')), 'ms');
    }
    if (measures('load')) results.throttled = await throttledLoads(BASE_FLAGS);
    if (measures('modules') || measures('page')) {
      const { browser, page } = await benchPage(WEBGPU_FLAGS);
      try {
        if (measures('modules')) results.modules = await moduleComparison(page, quick ? 3 : 2 * RUNS + 1);
        if (measures('page')) {
          results.secnnCpu = await secnnCpu(page);
          results.paired = await pairedLatency(page, quick ? 3 : 2 * RUNS + 1);
          results.webgpu = await secnnWebgpu(page).catch((e) => ({ error: e.message }));
          results.tfjs = await tfjs(page);
        }
      } finally {
        await browser.close();
      }
    }
    if (measures('threads')) results.threads = await threadsComparison(quick ? 2 : RUNS);
    if (!quick) {
      mkdirSync(dirname(RESULTS), { recursive: true });
      writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    }
    writeTable(results);
  } finally {
    server.kill();
    isolatedServer.kill();
  }
}

await main();
