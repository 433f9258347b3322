// The first visit, at a desktop (1280×900) and a phone (390×844) size: nothing jumps while the
// page loads (the browser's own Layout Instability API), an example classifies with one click,
// the answer is in the first screen without scrolling, and axe-core finds no violation in the
// page's main states.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { MINUTES, URL, BASE_FLAGS, shots, startTestServer, waitReady, assertAccessible } from './browser.mjs';

const SIZES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true },
};

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

/** Cumulative layout shift as the browser reports it (shifts right after input excluded, as CLS does). */
const layoutShift = (page) => page.evaluate(() => new Promise((resolve) => {
  let total = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
  }).observe({ type: 'layout-shift', buffered: true });
  setTimeout(() => resolve(total), 100);
}));

/** Whether `selector`'s box lies inside the first screen, with the page not scrolled. */
const inFirstScreen = (page, selector) => page.$eval(selector, (element) => {
  const box = element.getBoundingClientRect();
  return window.scrollY === 0 && box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
});

for (const [name, size] of Object.entries(SIZES)) {
  test(`${name}: no layout shift while loading, an example classifies, the answer is in view, no axe violations`, { timeout: 10 * MINUTES }, async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BASE_FLAGS });
    try {
      const page = await browser.newPage(size);
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      await page.goto(URL);
      await waitReady(page);
      await page.waitForTimeout(1000); // the badges settle (the warm-up, the WebGPU check)
      const shift = await layoutShift(page);
      assert.ok(shift < 0.02, `cumulative layout shift ${shift.toFixed(4)} while loading`);
      await assertAccessible(page, `${name}, ready`);

      assert.equal(await page.locator('#examples button').count(), 20);
      const before = await page.locator('#gallery li').count();
      await page.click('#examples button:nth-child(7)'); // a cat
      await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length > n, before, { timeout: 2 * MINUTES });
      await page.evaluate(() => window.scrollTo(0, 0));
      assert.ok(await inFirstScreen(page, '#top5 li:first-child'), 'the top class is not in the first screen');
      const value = page.locator('#top5 li:first-child .value');
      const lines = await value.evaluate((e) => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)));
      assert.equal(lines, 1, 'the probability wraps');
      await page.screenshot({ path: join(shots, `11-first-visit-${name}.png`) });
      await assertAccessible(page, `${name}, classified`);

      await page.click('#random-example');
      await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length > n + 1, before, { timeout: 2 * MINUTES });

      await page.click('#tab-train');
      assert.equal(await page.locator('#start-train').isDisabled(), true, 'Start is enabled with no images');
      assert.match(await page.textContent('#start-reason'), /Add photos to class A, class B/);
      await assertAccessible(page, `${name}, fine-tune panel`);
      await page.screenshot({ path: join(shots, `12-fine-tune-panel-${name}.png`), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
}
