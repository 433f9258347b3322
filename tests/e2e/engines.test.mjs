// The page in the other browser engines, with Debian's browsers: Firefox ESR (through WebDriver
// BiDi, puppeteer-core) and WebKitGTK (Safari's engine family; WebKitWebDriver and MiniBrowser
// under Xvfb), and Chromium for the same smoke. Each loads the page, classifies an example, opens
// the fine-tune panel, fine-tunes through the module (paused, resumed and stopped early) and
// explains; then keeps a class and a photo, reloads, and finds them restored. One WebKit run
// reports an invalid language tag ("C", as with LANG=C.UTF-8), which once stopped the whole page.
// SECNN_REQUIRE_ENGINES=1 (CI) turns a missing browser into a failure instead of a skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { MINUTES, URL, startTestServer, freePort, openPage } from './browser.mjs';

const FIREFOX = '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const required = process.env.SECNN_REQUIRE_ENGINES === '1';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

/** Skips `t` loudly when `path` is missing (fails instead under SECNN_REQUIRE_ENGINES=1). */
function needs(t, path, install) {
  if (existsSync(path)) return true;
  const message = `${path} not found (apt-get install ${install})`;
  if (required) assert.fail(message);
  console.log(`\n*** SKIPPING: ${message} ***\n`);
  t.skip(message);
  return false;
}

/**
 * What every engine runs inside the page once it is ready: an example classified through the
 * page, the fine-tune panel opened (it loads the chart library), a short fine-tune and an
 * explanation through the module. Resolves with what happened, for the test to check.
 */
async function smoke() {
  const wait = async (condition, what) => {
    for (let i = 0; i < 1200; i++) {
      if (condition()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  await wait(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent, 'the page');
  const alerts = () => document.querySelector('#alerts').textContent;
  if (alerts()) return { failure: alerts() };
  const gallery = () => document.querySelectorAll('#gallery li').length;
  document.querySelector('#examples button:nth-child(17)').click(); // a ship
  await wait(() => gallery() === 1 || alerts(), 'the example');
  const top = document.querySelector('#top5 li span')?.textContent;
  document.querySelector('#tab-train').click();
  await new Promise((r) => setTimeout(r, 1500)); // the chart library loads (or fails, harmlessly)
  document.querySelector('#tab-classify').click();
  document.querySelector('#random-example').click();
  await wait(() => gallery() === 2 || alerts(), 'a second example');
  const { page } = await import(new URL('www/page/page-state.js', document.baseURI).href);
  const running = { module: page.model.backend.module, threads: page.model.backend.threads, isolated: crossOriginIsolated };
  const { SeCnn } = await import(new URL('www/secnn/secnn.js', document.baseURI).href);
  const model = await SeCnn.create({ backend: 'cpu' });
  const grey = new ImageData(32, 32);
  grey.data.fill(128);
  for (let i = 0; i < 4; i++) await model.addExample(grey, i % 2);
  // A run long enough to be paused, resumed and stopped through the worker's control messages,
  // which it reads between its calls into the runtime.
  let steps = 0;
  let pausedReports = 0;
  const run = model.fineTune({
    classes: ['a', 'b'], epochs: 1000, batchSize: 1, validationSplit: 0,
    onStep: () => { steps += 1; },
    onPause: () => { pausedReports += 1; },
  });
  await wait(() => steps > 0, 'a fine-tuning step');
  await run.pause();
  await wait(() => pausedReports > 0, 'the pause');
  const atPause = steps;
  await new Promise((r) => setTimeout(r, 1000));
  const control = { stepsWhilePaused: steps - atPause };
  await run.resume();
  await wait(() => steps > atPause, 'a step after resuming');
  await run.finish();
  const { status } = await run.done;
  const explained = await model.explain(grey, { topK: 2 });
  model.terminate();
  return { top, gallery: gallery(), status, control, blocks: explained.blocks.length, alerts: alerts(), language: navigator.language, running };
}

/**
 * In the page: the fine-tune panel's first class renamed and given one photo (a 40×30 PNG drawn
 * here), then every change stored. The harness reloads, and `restoredWork` reads what came back.
 */
async function keepWork() {
  const wait = async (condition, what) => {
    for (let i = 0; i < 600; i++) {
      if (condition()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  await wait(() => document.body.dataset.workReady === 'true', 'the fine-tune panel');
  const { tuning } = await import(new URL('www/page/page-state.js', document.baseURI).href);
  const keeper = await import(new URL('www/page/project-keeper.js', document.baseURI).href);
  const input = document.querySelector('[data-testid="class-row"] input[type="text"]');
  input.value = 'kept class';
  input.dispatchEvent(new Event('input'));
  const canvas = document.createElement('canvas');
  canvas.width = 40;
  canvas.height = 30;
  canvas.getContext('2d').fillRect(5, 5, 20, 10);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  await tuning.customClasses[0].addFiles([new File([blob], 'drawn.png', { type: 'image/png' })]);
  await keeper.settled();
  return { keeping: keeper.keeping(), alerts: document.querySelector('#alerts').textContent };
}

/** In the reloaded page: the class rows and what the page said it restored. */
async function restoredWork() {
  for (let i = 0; i < 1200 && document.body.dataset.workReady !== 'true'; i++) await new Promise((r) => setTimeout(r, 100));
  const rows = [...document.querySelectorAll('[data-testid="class-row"]')].map((row) => `${row.querySelector('input[type="text"]').value}: ${row.querySelector('.muted').textContent}`);
  return { rows, alerts: document.querySelector('#alerts').textContent };
}

function checkRestored(kept, restored) {
  assert.equal(kept.keeping, true, `the page keeps the work (${kept.alerts})`);
  assert.deepEqual(restored.rows, ['kept class: 1 image(s)', 'class B: 0 image(s)']);
  assert.match(restored.alerts, /Welcome back: restored 2 classes with 1 photo\(s\)/);
}

function checkSmoke(result) {
  assert.equal(result.failure, undefined, `the page did not start: ${result.failure}`);
  assert.ok(result.top, 'no class shown for the example');
  assert.equal(result.gallery, 2);
  assert.equal(result.status, 'finished early', 'the run stopped (and kept its weights) when asked');
  assert.equal(result.control.stepsWhilePaused, 0, 'steps went on after the pause was reported');
  assert.equal(result.blocks, 3);
  assert.equal(result.alerts, '', `the page showed: ${result.alerts}`);
}

test('Chromium: the same smoke, on the threaded module', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ ready: false });
  try {
    const result = await page.evaluate(smoke);
    console.log(`Chromium: ${JSON.stringify(result)}`);
    checkSmoke(result);
    assert.equal(result.running.module, 'threads', JSON.stringify(result.running));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('Firefox: starts, classifies, fine-tunes and explains, with no console errors', { timeout: 10 * MINUTES }, async (t) => {
  if (!needs(t, FIREFOX, 'firefox-esr')) return;
  const browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    await page.goto(URL);
    const result = await page.evaluate(smoke);
    console.log(`Firefox: ${JSON.stringify(result)}`);
    checkSmoke(result);
    // Firefox runs the threaded module on an isolated page with two cores or more.
    assert.equal(result.running.isolated, true, 'the test server isolates the page');
    assert.equal(result.running.module, 'threads', JSON.stringify(result.running));
    const kept = await page.evaluate(keepWork);
    await page.reload();
    const restored = await page.evaluate(restoredWork);
    console.log(`Firefox, kept work after a reload: ${JSON.stringify(restored)}`);
    checkRestored(kept, restored);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});


/** Stops `child` and resolves once it has exited. */
function stopped(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => { child.once('exit', resolve); child.kill(); });
}

/**
 * An Xvfb server on a display it picks itself (`-displayfd`), where both WebKit tests used one
 * number per process and did not wait for the first server to exit. One CI run's session request
 * hung until fetch gave up after 300 s; the cause is not known (20 back-to-back restarts on one
 * display all started here), so this removes one candidate and `SESSION_START` bounds the wait
 * with a message naming the display.
 */
async function startXvfb() {
  const xvfb = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const display = await new Promise((resolve, reject) => {
    let text = '';
    xvfb.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before choosing a display`)));
  });
  return { xvfb, display };
}

/** How long WebKitWebDriver may take to start MiniBrowser (a few seconds in a healthy run). */
const SESSION_START = 2 * MINUTES;

/** A WebDriver (classic) session of MiniBrowser, the environment `env` given to the browser. */
async function webkitSession(env) {
  const { xvfb, display } = await startXvfb();
  const port = await freePort();
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(LANG|LANGUAGE|LC_.*)$/.test(name)));
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { stdio: 'ignore', env: { ...base, ...env, DISPLAY: display } });
  const call = async (method, path, body, signal) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body), signal });
    const { value } = await response.json();
    if (value?.error) throw new Error(`WebDriver ${value.error}: ${value.message}`);
    return value;
  };
  const stop = () => Promise.all([stopped(driver), stopped(xvfb)]);
  try {
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/status`).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    const capabilities = { alwaysMatch: { 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } };
    const { sessionId } = await call('POST', '/session', { capabilities }, AbortSignal.timeout(SESSION_START)).catch((error) => {
      throw new Error(`WebKitWebDriver started no MiniBrowser session on display ${display} within ${SESSION_START / 1000} s: ${error.message}`);
    });
    const close = async () => {
      await call('DELETE', `/session/${sessionId}`).catch(() => {});
      await stop();
    };
    return { call: (method, path, body) => call(method, `/session/${sessionId}${path}`, body), close };
  } catch (error) {
    await stop();
    throw error;
  }
}

// With LANG=C.UTF-8 (Debian's default in containers) WebKitGTK reports "C" as navigator.language.
for (const [name, env, language] of [['WebKit', { LANG: 'en_US.UTF-8' }, /^en/], ['WebKit with an invalid language tag ("C")', { LANG: 'C.UTF-8' }, /^C$/]]) {
  test(`${name}: starts, classifies, fine-tunes and explains`, { timeout: 10 * MINUTES }, async (t) => {
    if (!needs(t, WEBKIT_DRIVER, 'webkit2gtk-driver xvfb')) return;
    const session = await webkitSession(env);
    try {
      await session.call('POST', '/timeouts', { script: 8 * MINUTES });
      await session.call('POST', '/url', { url: URL });
      const result = await session.call('POST', '/execute/async', {
        script: `const done = arguments[arguments.length - 1]; (${smoke})().then(done, (e) => done({ failure: String(e) }));`,
        args: [],
      });
      console.log(`${name}: ${JSON.stringify(result)}`);
      checkSmoke(result);
      assert.match(result.language, language, 'the browser did not report the language this run is about');
      const run = (fn) => session.call('POST', '/execute/async', {
        script: `const done = arguments[arguments.length - 1]; (${fn})().then(done, (e) => done({ failure: String(e) }));`, args: [],
      });
      const kept = await run(keepWork);
      await session.call('POST', '/url', { url: URL });
      const restored = await run(restoredWork);
      console.log(`${name}, kept work after a reload: ${JSON.stringify(restored)}`);
      checkRestored(kept, restored);
    } finally {
      await session.close();
    }
  });
}
