// Shared by the end-to-end tests: the static server (tools/serve.sh, what `make serve` runs),
// headless Chromium (Debian's, through playwright-core), and the CIFAR-10 images unpacked by
// `make data`. Screenshots go to test-output/ (ignored by git).
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';
import { startServer } from '../../tools/serve.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const shots = join(root, 'test-output');
export const work = join(tmpdir(), `secnn-e2e-${process.pid}`);
mkdirSync(shots, { recursive: true });
mkdirSync(work, { recursive: true });
const PORT = 18000 + (process.pid % 1000);
export const URL = `http://127.0.0.1:${PORT}/`;
export const BASE_FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
export const MINUTES = 60_000;

const cifar = join(root, 'data', 'cifar10');
export const haveCifar = existsSync(join(cifar, 'test'));

/**
 * True when the CIFAR-10 images are unpacked. Otherwise skips `t` loudly (a `SKIPPED` line and
 * the reason on the skip) and returns false, or fails it under SECNN_REQUIRE_DATA=1, which
 * `.ci/run` sets when the archive `make data` unpacks is there.
 */
export function needCifar(t) {
  if (haveCifar) return true;
  const why = `${cifar}/test not found`;
  const setup = 'run `make data` with ../shared/datasets/cifar10-jpeg.tar.gz present';
  if (process.env.SECNN_REQUIRE_DATA === '1') assert.fail(`${t.name} cannot run: ${why}. SECNN_REQUIRE_DATA=1 says it must: ${setup}`);
  const message = `${why}; ${setup} to run it (SECNN_REQUIRE_DATA=1 makes this a failure)`;
  console.log(`\n*** SKIPPED ${t.name}: ${message} ***\n`);
  t.skip(message);
  return false;
}
/**
 * Skips `t` loudly with `why` (a `SKIPPED` line and the reason on the skip), or fails it when
 * the environment variable `required` is '1'. Returns undefined, for `return skipLoudly(…)`.
 */
export function skipLoudly(t, why, required) {
  if (process.env[required] === '1') assert.fail(`${t.name} cannot run: ${why}. ${required}=1 says it must`);
  console.log(`\n*** SKIPPED ${t.name}: ${why} (${required}=1 makes this a failure) ***\n`);
  t.skip(why);
}

/** The CLI that `make build` (or `cargo test --release`) builds. */
export const cliBinary = join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/secnn/target'), 'release', 'secnn');

/** Images `skip .. skip + n` (by file name) of a class of the test split (or `split`). */
export const cifarImages = (cls, n, { split = 'test', skip = 0 } = {}) => readdirSync(join(cifar, split, cls))
  .sort().slice(skip, skip + n).map((f) => join(cifar, split, cls, f));

export const startTestServer = () => startServer(PORT);

/** Waits until the page is ready, or fails at once with the page's own message. */
export async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.querySelector('#alerts').textContent,
    null, { timeout: 5 * MINUTES });
  const failure = await page.textContent('#alerts');
  if (failure) throw new Error(`the page did not load: ${failure}`);
}

/**
 * Chromium on the page (at `url`: the repository's by default), ready (unless `ready: false`:
 * another page); `flags` add to Chromium's command line (e.g. a fake camera).
 */
export async function openPage({ webgpu, url = URL, ready = true, flags = [] }) {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...BASE_FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...flags],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems = [];
  const origin = new globalThis.URL(url).origin;
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) problems.push(`request left the origin: ${r.url()}`); });
  await page.goto(url);
  try {
    if (ready) await waitReady(page);
  } catch (error) {
    await browser.close();
    throw error;
  }
  return { browser, page, problems };
}

/** Drops `file` on the page's file input and returns the top-1 label it shows. */
export async function classify(page, file) {
  const before = await page.locator('#gallery li').count();
  await page.setInputFiles('#file-input', file);
  await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length > n, before, { timeout: 5 * MINUTES });
  return page.locator('#top5 li').first().locator('span').first().textContent();
}

/** True when a canvas has more than one distinct colour. */
/** Whether the WebGPU adapter `page` is granted is a software one (SwiftShader, lavapipe). */
export const softwareGpu = (page) => page.evaluate(async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return false;
  const { vendor = '', architecture = '', description = '', device = '' } = adapter.info ?? {};
  return Boolean(adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(`${vendor} ${architecture} ${description} ${device}`);
});

export const canvasVaries = (page, selector) => page.$eval(selector, (canvas) => {
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4 * 7) seen.add(`${data[i]},${data[i + 1]},${data[i + 2]},${data[i + 3]}`);
  return seen.size > 1;
});

const AXE = readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** axe-core's WCAG 2.x A/AA rules and best practices on the page as it is: no violation allowed. */
export async function assertAccessible(page, state) {
  await page.evaluate(AXE); // evaluated by the test harness, so the page's CSP does not block it
  const violations = await page.evaluate(async () => (await window.axe.run(document)).violations
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`));
  assert.deepEqual(violations, [], `axe, ${state}`);
}

/** A TCP port nobody listens on now, for a server a test starts. */
export const freePort = () => new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => resolve(port)); });
});
