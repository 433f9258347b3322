// The page's fine-tune panel as the keeping tests drive it (keep.test.mjs, project-files.test.mjs):
// a browser profile that survives reloads, the panel ready with its kept work, photos collected,
// a run started and awaited, and the fixed image's probabilities through the page's own model.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { BASE_FLAGS, MINUTES, URL, cifarImages } from './browser.mjs';

/** The image every reload check classifies (a synthetic pattern), by URL on the test server. */
export const FIXED = '/tests/fixtures/pattern.png';

/** A browser whose one context (one profile: its IndexedDB survives reloads) opens the page. */
export async function openContext() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BASE_FLAGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  return { browser, context };
}

/** A page of `context`, ready, with its fine-tune panel set up (kept work restored). */
export async function openPanel(context, problems = []) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', (dialog) => dialog.accept()); // confirmations ("Start over?", "Open … in place of your work?")
  await page.goto(URL);
  await waitPanel(page);
  return page;
}

/** The page ready (a restored project says so in an alert, so alerts alone are no failure here). */
export async function waitPanel(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || /failed/.test(document.querySelector('#model-status').textContent), null, { timeout: 5 * MINUTES });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', `the page did not load: ${await page.textContent('#alerts')}`);
  await page.waitForFunction(() => document.body.dataset.workReady === 'true', null, { timeout: 2 * MINUTES });
  await page.click('#tab-train');
}

/** Names the first two class rows and adds `n` training photos of `cls` to each. */
export async function collect(page, [[nameA, clsA], [nameB, clsB]], n) {
  const rows = page.locator('[data-testid="class-row"]');
  await rows.nth(0).locator('input[type="text"]').fill(nameA);
  await rows.nth(1).locator('input[type="text"]').fill(nameB);
  await rows.nth(0).locator('input[type="file"]').setInputFiles(cifarImages(clsA, n, { split: 'train' }));
  await rows.nth(1).locator('input[type="file"]').setInputFiles(cifarImages(clsB, n, { split: 'train' }));
  await page.waitForFunction((count) => document.querySelector('#data-summary').textContent.match(/: (\d+)/g)?.every((m) => m === `: ${count}`), n);
  await settled(page);
}

/** Waits until every change made on the page is stored. */
export const settled = (page) => page.evaluate(async () => (await import('/www/page/project-keeper.js')).settled());

/** The page's classes with their photo counts, from the panel's rows. */
export const classRows = (page) => page.$$eval('[data-testid="class-row"]', (rows) => rows.map((row) => ({
  name: row.querySelector('input[type="text"]').value, count: row.querySelector('.muted').textContent,
})));

/** All the probabilities of the fixed image, by class, through the page's own model. */
export const probabilities = (page) => page.evaluate(async (url) => {
  const { page: state } = await import('/www/page/page-state.js');
  const { top } = await state.model.classify(await (await fetch(url)).blob(), { topK: 1000 });
  return top.map(({ label, probability }) => [label, probability]);
}, FIXED);

export function assertSameProbabilities(after, before) {
  assert.deepEqual(after.map(([label]) => label), before.map(([label]) => label), 'the same classes in the same order');
  for (const [i, [label, p]] of before.entries()) assert.ok(Math.abs(after[i][1] - p) <= 1e-6, `${label}: ${after[i][1]} after, ${p} before`);
}

export async function fineTune(page, { epochs, validation = '0.25', batchSize = 4 }) {
  await page.fill('#epochs', String(epochs));
  await page.fill('#batch-size', String(batchSize));
  await page.fill('#val-split', validation);
  await page.selectOption('#freeze', 'head-attention');
  await page.click('#start-train');
}

export const finished = (page) => page.waitForFunction(() => /^Training (finished|stopped|cancelled)/.test(document.querySelector('#train-status').textContent), null, { timeout: 15 * MINUTES });
