// Misuse of the module's public API, one row a call: each is refused with a TypeError or a
// RangeError (code 'invalid-argument') that names the call, the parameter, the value and what
// is allowed, in plain words (no Rust or serde wording, no doubled "Error:"). After the whole
// table the model classifies exactly as a fresh one does, and the worker keeps the same rules
// for callers around secnn.js. What only the runtime can judge (a file's contents, class
// names) is refused with its own code; formats the Rust decoder does not read go to the browser's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MINUTES, URL, startTestServer, openPage } from './browser.mjs';

// [the call, as code run in the page with `model` and a grey 32×32 `grey` image; the error class; its message]
const TABLE = [
  ["SeCnn.create({ backend: 'tpu' })", 'TypeError', /^create: backend must be one of "auto", "webgpu", "cpu", not "tpu"$/],
  ["SeCnn.create({ backnd: 'cpu' })", 'TypeError', /^create: unknown option "backnd"; the options are backend, /],
  ["SeCnn.create({ probe: 'yes' })", 'TypeError', /^create: probe must be true or false, not "yes"$/],
  ["SeCnn.create({ webgpu: 'sometimes' })", 'TypeError', /^create: webgpu must be one of "eager", "on-demand"/],
  ['SeCnn.create({ weights: 42 })', 'TypeError', /^create: weights must be a URL, a File or Blob, an ArrayBuffer or a Uint8Array, not 42$/],
  // A promise of weights or of a wasm build is checked once it settles.
  ["SeCnn.create({ weights: Promise.resolve(42), backend: 'cpu' })", 'TypeError', /^create: weights must be a URL, a File or Blob, an ArrayBuffer or a Uint8Array, not 42$/],
  ["SeCnn.create({ wasm: { cpu: Promise.resolve(42) }, backend: 'cpu' })", 'TypeError', /^create: wasm.cpu must be a URL, the bytes of secnn_bg.wasm .* or its WebAssembly.Module, not number$/],
  ['SeCnn.create({ wasm: new Uint8Array(4) })', 'TypeError', /^create: wasm must be an object \{ cpu, threads, webgpu \}/],
  ['SeCnn.create({ wasm: { cpu: 42 } })', 'TypeError', /^create: wasm.cpu must be a URL, the bytes of secnn_bg.wasm .* or its WebAssembly.Module, not number$/],
  ["SeCnn.create('cpu')", 'TypeError', /^create: the options must be an object, not "cpu"$/],
  ["model.recreate({ backend: 'gpu' })", 'TypeError', /^recreate: backend must be one of/],
  ['model.classify(null)', 'TypeError', /^classify: image must be an ImageData, .*, not null$/],
  ['model.classify()', 'TypeError', /^classify: image must be .*, not undefined$/],
  ["model.classify('cat.png')", 'TypeError', /^classify: image must be .*, not "cat.png"$/],
  ['model.classify(grey, { topK: 0 })', 'RangeError', /^classify: topK must be an integer from 1 to 1000, not 0$/],
  ['model.classify(grey, { topK: 2.5 })', 'RangeError', /^classify: topK must be an integer from 1 to 1000, not 2.5$/],
  ["model.classify(grey, { topK: '3' })", 'TypeError', /^classify: topK must be an integer from 1 to 1000, not "3"$/],
  ['model.classify(grey, { tta: 1 })', 'TypeError', /^classify: tta must be true or false, not 1$/],
  ['model.classify(grey, { topk: 3 })', 'TypeError', /^classify: unknown option "topk"; the options are topK, tta$/],
  ['model.explain(grey, { topK: 0 })', 'RangeError', /^explain: topK must be an integer from 1 to 1000, not 0$/],
  ['model.explain(grey, { camClass: 99 })', 'RangeError', /^explain: camClass must be an integer from 0 to 9, not 99$/],
  ['model.explain(grey, { camClass: -1 })', 'RangeError', /^explain: camClass must be an integer from 0 to 9, not -1$/],
  ['model.explain(grey, { channels: 0 })', 'RangeError', /^explain: channels must be an integer from 1 to 32, not 0$/],
  ['model.explain(grey, { channels: 33 })', 'RangeError', /^explain: channels must be an integer from 1 to 32, not 33$/],
  ['model.explain(grey, { map: { block: 4, channel: 0 } })', 'RangeError', /^explain: map must be \{ block, channel \} with block an integer from 1 to 3 and channel below that block's width \(32, 64, 128\), not an object$/],
  ['model.explain(grey, { map: { block: 1, channel: 32 } })', 'RangeError', /^explain: map must be \{ block, channel \} .*, not an object$/],
  ['model.explain(grey, { map: [2, 5] })', 'TypeError', /^explain: map must be \{ block, channel \} .*, not an array of 2$/],
  ['model.explain({}, {})', 'TypeError', /^explain: image must be .*, not an object$/],
  // Custom fine-tuning takes up to facts.maxClasses (100) classes: labels 0 to 99, whatever the model's classes.
  ['model.addExample(grey, -1)', 'RangeError', /^addExample: label must be a class index, an integer from 0 to 99, not -1/],
  ["model.addExample(grey, 'cat')", 'TypeError', /^addExample: label must be a class index, an integer from 0 to 99, not "cat"/],
  ['model.addExample(grey, 100)', 'RangeError', /^addExample: label must be a class index, an integer from 0 to 99, not 100/],
  ['model.addExample(null, 0)', 'TypeError', /^addExample: image must be .*, not null$/],
  ['model.fineTune({ epochs: -3 })', 'RangeError', /^fineTune: epochs must be an integer from 1 to 1000, not -3$/],
  ['model.fineTune({ epochs: 2.5 })', 'RangeError', /^fineTune: epochs must be an integer from 1 to 1000, not 2.5$/],
  ['model.fineTune({ learningRate: NaN })', 'RangeError', /^fineTune: learningRate must be a finite number above 0 and at most 10, not NaN$/],
  ['model.fineTune({ learningRate: Infinity })', 'RangeError', /^fineTune: learningRate must be a finite number above 0 and at most 10, not Infinity$/],
  ['model.fineTune({ learningRate: -0.1 })', 'RangeError', /^fineTune: learningRate must be .*, not -0.1$/],
  ['model.fineTune({ batchSize: 0 })', 'RangeError', /^fineTune: batchSize must be an integer from 1 to 1024, not 0$/],
  ["model.fineTune({ optimizer: 'rmsprop' })", 'TypeError', /^fineTune: optimizer must be one of "adam", "adamw", "sgd", not "rmsprop"$/],
  ["model.fineTune({ schedule: 'step' })", 'TypeError', /^fineTune: schedule must be one of "plateau", "onecycle", "cosine", "constant", not "step"$/],
  ["model.fineTune({ freeze: 'all' })", 'TypeError', /^fineTune: freeze must be one of "none", "head", "head-attention", not "all"$/],
  ['model.fineTune({ validationSplit: 1.5 })', 'RangeError', /^fineTune: validationSplit must be a finite number from 0 to 0.9, not 1.5$/],
  ['model.fineTune({ dropout: 1 })', 'RangeError', /^fineTune: dropout must be a finite number from 0 to 0.99, not 1$/],
  ["model.fineTune({ classes: 'cat,dog' })", 'TypeError', /^fineTune: classes must be an array of class names/],
  ["model.fineTune({ onStep: 'log' })", 'TypeError', /^fineTune: onStep must be a function, not "log"$/],
  ['model.fineTune({ kdWeight: 0.5 })', 'TypeError', /^fineTune: unknown option "kdWeight"/],
  ["model.fineTune({ augment: 'yes' })", 'TypeError', /^fineTune: augment must be true or false, not "yes"$/],
  ['model.fineTune({ seed: -1 })', 'RangeError', /^fineTune: seed must be an integer from 0 to /],
  ['model.loadWeights(null)', 'TypeError', /^loadWeights: weights must be a URL, a File or Blob, an ArrayBuffer or a Uint8Array, not null$/],
  ['model.loadWeights(123)', 'TypeError', /^loadWeights: weights must be .*, not 123$/],
  ["model.loadWeights('indexeddb://')", 'TypeError', /^loadWeights: the URL must be 'indexeddb:\/\/<name>' with a name of 1 to 200 characters, not "indexeddb:\/\/"$/],
  ["model.save('downloads://model')", 'TypeError', /^save: the URL must be 'indexeddb:\/\/<name>' with a name of 1 to 200 characters, not "downloads:\/\/model"$/],
  ['model.save()', 'TypeError', /^save: the URL must be 'indexeddb:\/\/<name>' .*, not undefined$/],
  ["SeCnn.removeSaved('')", 'TypeError', /^removeSaved: the URL must be 'indexeddb:\/\/<name>' .*, not "indexeddb:\/\/"$/],
  ["model.importExamples('examples.bin')", 'TypeError', /^importExamples: the data must be a Uint8Array, an ArrayBuffer or a Blob, not "examples.bin"$/],
  ['model.readArchive(null)', 'TypeError', /^readArchive: the data must be a Uint8Array, an ArrayBuffer or a Blob, not null$/],
];

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

test(`the module refuses ${TABLE.length} kinds of misuse by name, and keeps working`, { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false, url: `${URL}www/examples/embed.html`, ready: false });
  try {
    await page.evaluate(async () => {
      window.secnn = await import('/www/secnn/secnn.js');
      window.model = await window.secnn.SeCnn.create({ backend: 'cpu' });
      window.grey = new ImageData(32, 32);
      window.grey.data.fill(128);
      window.before = (await window.model.classify(window.grey, { topK: 10 })).top;
    });
    const wrong = [];
    for (const [call, errorClass, pattern] of TABLE) {
      // Run by the test harness (not subject to the page's CSP, which forbids eval).
      const outcome = await page.evaluate(`(async () => {
        const { SeCnn } = window.secnn; const { model, grey } = window;
        try { await (${call}); return null; } catch (error) { return [error.constructor.name, error.message, error.code]; }
      })()`);
      if (!outcome) wrong.push(`${call}: no error`);
      else if (outcome[0] !== errorClass || !pattern.test(outcome[1])) wrong.push(`${call}: ${outcome[0]}: ${outcome[1]}`);
      else if (outcome[2] !== 'invalid-argument') wrong.push(`${call}: code ${outcome[2]}`);
      else if (/Error: |serde|usize|f64|unwrap|panicked/.test(outcome[1])) wrong.push(`${call}: internal wording: ${outcome[1]}`);
    }
    assert.deepEqual(wrong, []);
    // Nothing the table did changed the model.
    const same = await page.evaluate(async () => {
      const fresh = await window.secnn.SeCnn.create({ backend: 'cpu' });
      const [now, reference] = [(await window.model.classify(window.grey, { topK: 10 })).top, (await fresh.classify(window.grey, { topK: 10 })).top];
      fresh.terminate();
      return JSON.stringify(now) === JSON.stringify(window.before) && JSON.stringify(now) === JSON.stringify(reference);
    });
    assert.ok(same, 'the model answers differently after the misuse table');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

// [a call the runtime refuses, as code run in the page with `model`; the code it must carry]
const CODED = [
  // An ISO media file of brand "heic" (an iPhone photo): Chromium cannot decode it either.
  ['model.classify(new Uint8Array([0, 0, 0, 24, 102, 116, 121, 112, 104, 101, 105, 99, 0, 0, 0, 0, 0, 0, 0, 0]))', 'unsupported-format'],
  ["model.classify(new TextEncoder().encode('plain text, not an image'))", 'not-an-image'],
  ['model.loadWeights(new Uint8Array([1, 2, 3]))', 'invalid-weights'],
  ['model.addCifarBatch(new Uint8Array(5))', 'invalid-file'],
  ["model.checkClassNames(['Cat', ' cat'])", 'invalid-argument'],
  ["model.fineTune({ classes: ['only one'] }).done", 'invalid-argument'],
  ["SeCnn.create({ weights: '/no/such/weights.bpk', backend: 'cpu' })", 'fetch-failed'],
  ["SeCnn.create({ weights: Promise.resolve(new Uint8Array([1, 2, 3])), backend: 'cpu' })", 'invalid-weights'],
  ["model.loadWeights('indexeddb://never-saved')", 'fetch-failed'],
  ["model.readArchive(new TextEncoder().encode('not a zip'))", 'invalid-file'],
];

test('the runtime refuses files and names with stable codes, and AVIF photos decode in the browser', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false, url: `${URL}www/examples/embed.html`, ready: false });
  try {
    await page.evaluate(async () => {
      window.secnn = await import('/www/secnn/secnn.js');
      window.model = await window.secnn.SeCnn.create({ backend: 'cpu' });
    });
    const wrong = [];
    for (const [call, code] of CODED) {
      const outcome = await page.evaluate(`(async () => {
        const { SeCnn } = window.secnn; const { model } = window;
        try { await (${call}); return null; } catch (error) { return [error.code, error.message]; }
      })()`);
      if (!outcome) wrong.push(`${call}: no error`);
      else if (outcome[0] !== code) wrong.push(`${call}: code ${outcome[0]} (${outcome[1]})`);
    }
    assert.deepEqual(wrong, []);
    // The same synthetic picture as AVIF (browser-decoded) and PNG (Rust-decoded): the model sees the same 32×32.
    const fixture = (name) => [...readFileSync(new globalThis.URL(`../fixtures/${name}`, import.meta.url))];
    const difference = await page.evaluate(async ([avif, png]) => {
      const seen = async (bytes) => (await window.model.classify(new Uint8Array(bytes))).inputRgba;
      const [a, b] = [await seen(avif), await seen(png)];
      return a.reduce((sum, value, i) => sum + Math.abs(value - b[i]), 0) / a.length;
    }, [fixture('pattern.avif'), fixture('pattern.png')]);
    assert.ok(difference < 8, `the AVIF's 32×32 differs from the PNG's by ${difference.toFixed(1)} per channel on average`);
    assert.deepEqual(problems.filter((p) => !/no\/such\/weights|404/.test(p)), []);
  } finally {
    await browser.close();
  }
});

test('the worker keeps the same rules for callers that post to it directly', { timeout: 5 * MINUTES }, async () => {
  const { browser, page } = await openPage({ webgpu: false, url: `${URL}www/examples/embed.html`, ready: false });
  try {
    const replies = await page.evaluate(async () => {
      const worker = new Worker('/www/secnn/secnn-worker.js', { type: 'module' });
      let next = 1;
      const call = (method, args) => new Promise((resolve) => {
        const id = next++;
        worker.addEventListener('message', function reply({ data }) {
          if (data.id !== id) return;
          worker.removeEventListener('message', reply);
          resolve(data);
        });
        worker.postMessage({ id, method, args });
      });
      await call('create', { backend: 'cpu', module: 'cpu', weights: new URL('/www/secnn/model/secnn-cifar10.bpk', location.href).href });
      const rgba = new Uint8Array(32 * 32 * 4).fill(128);
      const explain = await call('explain', { rgba, width: 32, height: 32, topK: 0 });
      const label = await call('addExample', { rgba, width: 32, height: 32, label: 100 });
      const epochs = await call('fineTune', { options: { epochs: -3 } });
      const fine = await call('classify', { rgba, width: 32, height: 32, topK: 3 });
      worker.terminate();
      return { explain, label, epochs, fine };
    });
    for (const reply of [replies.explain, replies.label, replies.epochs]) {
      assert.equal(reply.error.name, 'RangeError');
      assert.equal(reply.error.code, 'invalid-argument');
    }
    assert.match(replies.explain.error.message, /^explain: topK must be an integer from 1 to 1000, not 0$/);
    assert.equal(replies.explain.fatal, false, 'the runtime must not crash');
    assert.match(replies.label.error.message, /^addExample: label must be a class index/);
    assert.match(replies.epochs.error.message, /^fineTune: epochs must be an integer from 1 to 1000, not -3$/);
    assert.equal(replies.fine.result.top.length, 3, 'the worker stopped classifying after the refusals');
  } finally {
    await browser.close();
  }
});
