// The two CPU modules: the threaded one (www/secnn/pkg-threads, a rayon pool of Web Workers over
// shared wasm memory) where the page is cross-origin isolated, as `make serve` serves it, and
// the single-threaded one (www/secnn/pkg-cpu) where it is not. Both give the same classes and
// probabilities, both fine-tune, and the threaded one falls back to the other where it cannot start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { MINUTES, URL, root, startTestServer, openPage, classify, cifarImages, haveCifar } from './browser.mjs';
import { staticServer } from '../../tools/static-server.mjs';

let isolatedServer;
let plainServer;
let plainUrl;
before(async () => {
  isolatedServer = await startTestServer();
  plainServer = staticServer({ isolated: false });
  await new Promise((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
  plainUrl = `http://127.0.0.1:${plainServer.address().port}/`;
});
after(() => {
  isolatedServer?.kill();
  plainServer?.close();
});

/** A few images as [name, bytes]: CIFAR-10 test images when unpacked, else the page's own pictures. */
function images() {
  const files = haveCifar
    ? ['cat', 'ship', 'frog', 'truck'].map((cls) => cifarImages(cls, 1)[0])
    : [join(root, 'docs', 'screenshot.png'), join(root, 'www', 'icon-192.png')];
  return files.map((file) => [file, [...readFileSync(file)]]);
}

/**
 * In the page: opens `options` (SeCnn.create), classifies `pictures` (top-10 probabilities)
 * and fine-tunes two new classes for one epoch; returns what ran and what came out.
 */
function runModel(page, options, pictures) {
  return page.evaluate(async ({ options, pictures }) => {
    const { SeCnn } = await import('/www/secnn/secnn.js');
    const model = await SeCnn.create(options);
    // The threaded module starts its pool behind the first calls; a backendchange says when.
    for (let i = 0; i < 300 && model.backend.module === 'threads' && model.backend.threads < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    try {
      const results = [];
      for (const [name, bytes] of pictures) {
        const { top } = await model.classify(new Blob([new Uint8Array(bytes)]), { topK: 10 });
        results.push({ name, top: top.map(({ label, probability }) => ({ label, probability })) });
      }
      const grey = new ImageData(32, 32);
      for (let i = 0; i < 16; i++) {
        grey.data.fill(i % 2 ? 200 : 40);
        await model.addExample(grey, i % 2);
      }
      const losses = [];
      const run = model.fineTune({ classes: ['dark', 'light'], epochs: 1, batchSize: 8, validationSplit: 0, onStep: (r) => losses.push(r.metrics.loss) });
      const { status } = await run.done;
      return { module: model.backend.module, threads: model.backend.threads, adapter: model.backend.adapter, results, status, losses };
    } finally {
      model.terminate();
    }
  }, { options, pictures });
}

/** The threaded module needs two cores (the page runs the single-threaded one on one): says so loudly. */
function needTwoCores(t) {
  if (cpus().length >= 2) return true;
  const message = `this machine has ${cpus().length} core: the page runs the single-threaded module on one`;
  console.log(`\n*** SKIPPED ${t.name}: ${message} ***\n`);
  t.skip(message);
  return false;
}

test('isolated, the page runs the threaded module; not isolated, the single-threaded one: same answers, both fine-tune', { timeout: 15 * MINUTES }, async (t) => {
  if (!needTwoCores(t)) return;
  const pictures = images();
  const isolated = await openPage({ webgpu: false, url: URL });
  // The pool starts after the first classification (this one, given at once); the backendchange
  // it brings must keep the view as it is.
  const top = await classify(isolated.page, pictures[0][0]);
  const plain = await openPage({ webgpu: false, url: plainUrl });
  try {
    await isolated.page.waitForFunction(() => document.querySelector('#backend-badge').textContent.includes('×'), null, { timeout: MINUTES });
    assert.equal(await isolated.page.$eval('#cam-class', (select) => select.options[select.selectedIndex].text), top,
      'the threads starting reset the Grad-CAM class');
    const page = (opened) => opened.page.evaluate(async () => {
      const { page: state } = await import('/www/page/page-state.js');
      return { module: state.model.backend.module, threads: state.model.backend.threads, isolated: self.crossOriginIsolated };
    });
    const pageThreads = await page(isolated);
    assert.equal(pageThreads.isolated, true, '`make serve` does not isolate the page (COOP/COEP)');
    assert.equal(pageThreads.module, 'threads');
    assert.ok(pageThreads.threads >= 2, `the pool has ${pageThreads.threads} thread(s)`);
    assert.match(await isolated.page.textContent('#backend-badge'), new RegExp(`CPU ×${pageThreads.threads}`));
    assert.deepEqual(await page(plain), { module: 'cpu', threads: 1, isolated: false });

    const threaded = await runModel(isolated.page, { backend: 'cpu' }, pictures);
    const single = await runModel(plain.page, { backend: 'cpu' }, pictures);
    assert.equal(threaded.module, 'threads');
    assert.match(threaded.adapter, /threads/);
    assert.equal(single.module, 'cpu');
    assert.equal(single.threads, 1);
    for (const [i, { name, top }] of threaded.results.entries()) {
      const other = single.results[i].top;
      assert.deepEqual(top.map((t) => t.label), other.map((t) => t.label), `${name}: another ranking on threads`);
      for (const [k, { probability }] of top.entries()) {
        assert.ok(Math.abs(probability - other[k].probability) < 1e-5, `${name}: ${probability} against ${other[k].probability}`);
      }
    }
    for (const run of [threaded, single]) {
      assert.equal(run.status, 'done', `${run.module}: fine-tuning ended ${run.status}`);
      assert.ok(run.losses.length > 0 && run.losses.every(Number.isFinite), `${run.module}: losses ${run.losses}`);
    }
    // The same weights, examples and batches: the first step's loss differs only by summation order.
    assert.ok(Math.abs(threaded.losses[0] - single.losses[0]) < 1e-3, `first loss ${threaded.losses[0]} against ${single.losses[0]}`);
    assert.deepEqual(isolated.problems, []);
    assert.deepEqual(plain.problems, []);
  } finally {
    await isolated.browser.close();
    await plain.browser.close();
  }
});

test('asked for by hand where the page is not isolated, the threaded module falls back to the single-threaded one', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false, url: plainUrl });
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  try {
    const backend = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu', module: 'threads' });
      const { module, threads } = model.backend;
      model.terminate();
      return { module, threads };
    });
    assert.deepEqual(backend, { module: 'cpu', threads: 1 });
    assert.ok(warnings.some((w) => /threaded CPU module could not start .*not cross-origin isolated/.test(w)), `warnings: ${warnings}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test("the threaded module's pool: workers the page starts, one per thread, that stop with their model", { timeout: 10 * MINUTES }, async (t) => {
  if (!needTwoCores(t)) return;
  const { browser, page, problems } = await openPage({ webgpu: false, url: URL });
  // Started from the page (not from inside the model's worker, where Firefox 153 ESR sometimes
  // hung in `new Worker`), so they are the page's own workers.
  const poolWorkers = () => page.workers().filter((worker) => worker.url().endsWith('/secnn-pool-worker.js')).length;
  const poolWorkersBecome = async (n, what) => {
    for (let i = 0; i < 100 && poolWorkers() !== n; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(poolWorkers(), n, what);
  };
  try {
    await page.waitForFunction(() => document.querySelector('#backend-badge').textContent.includes('×'), null, { timeout: MINUTES });
    const threads = await page.evaluate(async () => {
      const { page: state } = await import('/www/page/page-state.js');
      return state.model.backend.threads;
    });
    assert.ok(threads >= 2, `the page's pool has ${threads} thread(s)`);
    await poolWorkersBecome(threads, "the page's model: one pool worker per thread");
    const second = await page.evaluate(async () => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      for (let i = 0; i < 300 && model.backend.threads < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      globalThis.secondModel = model;
      return model.backend.threads;
    });
    assert.equal(second, threads);
    await poolWorkersBecome(2 * threads, 'a second model starts a pool of its own');
    await page.evaluate(() => globalThis.secondModel.recreate({ backend: 'cpu' }));
    await page.evaluate(async () => {
      const model = globalThis.secondModel;
      for (let i = 0; i < 300 && model.backend.threads < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    });
    await poolWorkersBecome(2 * threads, 'recreate() stops the old pool and starts a new one');
    await page.evaluate(() => globalThis.secondModel.terminate());
    await poolWorkersBecome(threads, 'terminate() stops its pool, and only its own');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
