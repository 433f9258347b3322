// Attention you can read (issue 18): the shipped file's per-class SE profiles drawn as the SE
// paper's figure, one image's SE weights against the average image's and its class's, and the
// live camera mode (Chromium's fake camera: a moving test pattern).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MINUTES, root, shots, startTestServer, openPage, canvasVaries } from './browser.mjs';

let server;
before(async () => { server = await startTestServer(); });
after(() => server?.kill());

test('the SE view compares an image with the usual weights, and the per-class figure is drawn from the shipped file', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({ webgpu: false });
  try {
    await page.click('#examples button.example');
    await page.waitForSelector('#top5 li');
    // The figure: one chart per block, each with its class-specificity, none of one colour.
    await page.click('.se-profiles-box summary');
    const captions = await page.$$eval('#se-profiles figcaption', (items) => items.map((i) => i.textContent));
    assert.equal(captions.length, 3);
    for (const caption of captions) assert.match(caption, /^Block \d · class-specificity \d+\.\d\d$/);
    for (let i = 1; i <= 3; i++) assert.ok(await canvasVaries(page, `#se-profiles figure:nth-child(${i}) canvas`), `block ${i} chart varies`);
    assert.match(await page.textContent('#se-compare-note'), /Averages measured on the test split/);

    for (const view of ['average', 'class']) {
      await page.check(`input[name="se-compare"][value="${view}"]`);
      await page.waitForSelector(`#se-blocks[data-view="${view}"]`);
      const named = await page.$$eval('.se-deviations', (items) => items.map((i) => [...i.querySelectorAll('button')].map((b) => b.textContent)));
      assert.equal(named.length, 3, `${view}: one line per block`);
      for (const buttons of named) {
        assert.ok(buttons.length >= 2, `${view}: channels named above and below: ${buttons}`);
        for (const text of buttons) assert.match(text, /^#\d+ [+−]\d\.\d\d$/);
      }
      // A named channel shows its feature map (block 2: 16×16).
      await page.click('#se-blocks .se-block:nth-child(2) .se-deviations button');
      await page.waitForSelector('#se-blocks .se-block:nth-child(2) .se-requested canvas');
      const drawn = await page.$eval('#se-blocks .se-block:nth-child(2) .se-requested canvas', (c) => [c.width, c.height]);
      assert.deepEqual(drawn, [16, 16]);
      // Signed: bars in both of the diverging map's hues.
      const colours = await page.$$eval('#se-block-3 > div', (bars) => new Set(bars.map((b) => b.style.background)).size);
      assert.ok(colours > 2, `${view}: the bars are coloured by their deviation`);
      assert.match(await page.textContent('.se-readout'), /usually \d\.\d{3} \([+−]\d\.\d{3}\)/);
    }
    await page.screenshot({ path: join(shots, 'se-against-class.png'), fullPage: true });

    // A file without profiles: the comparisons say what they need, the weights show as they are.
    await page.click('#tab-train');
    await page.setInputFiles('#load-weights', join(root, 'tests/fixtures/seed_cnn.pth'));
    await page.waitForFunction(() => /Loaded seed_cnn/.test(document.querySelector('#alerts').textContent), null, { timeout: 2 * MINUTES });
    await page.click('#tab-classify');
    assert.match(await page.textContent('#se-compare-note'), /need a weights file with SE profiles/);
    assert.ok(await page.isDisabled('input[name="se-compare"][value="class"]'));
    assert.equal(await page.$$eval('#se-profiles figure', (f) => f.length), 0);
    await page.click('#examples button.example');
    await page.waitForSelector('#se-blocks[data-view="absolute"]');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('live camera: frames are classified one after another, the SE bars and the Grad-CAM overlay move, pause stops them', { timeout: 10 * MINUTES }, async () => {
  const { browser, page, problems } = await openPage({
    webgpu: false, flags: ['--use-fake-device-for-media-stream=fps=60', '--use-fake-ui-for-media-stream'],
  });
  try {
    await page.click('#camera-button');
    await page.waitForFunction(() => document.querySelector('#camera-video').videoWidth > 0, null, { timeout: MINUTES });
    await page.click('#live-button');
    const frames = () => page.$eval('#live-rate', (rate) => Number(rate.dataset.frames ?? 0));
    await page.waitForFunction(() => Number(document.querySelector('#live-rate').dataset.frames ?? 0) >= 2, null, { timeout: 2 * MINUTES });
    const startFrames = await frames();
    const started = Date.now();
    const overlays = new Set();
    const bars = new Set();
    while (Date.now() - started < 6000) {
      overlays.add(await page.$eval('#live-overlay', (canvas) => canvas.toDataURL()));
      // Every block's bars: a fake camera's frames differ little, and the first block's
      // weights (a whole-image average of edges and colours) may not move in the third decimal.
      bars.add(await page.$$eval('[id^="se-block-"]', (blocks) => blocks.map((el) => [...el.children].map((b) => b.title).join()).join('|')));
      await page.waitForTimeout(400);
    }
    const perSecond = ((await frames()) - startFrames) / ((Date.now() - started) / 1000);
    const badge = await page.textContent('#backend-badge');
    console.log(`live camera: ${perSecond.toFixed(1)} frames/s (${badge}, headless, 2 cores); readout "${await page.textContent('#live-rate')}"`);
    // The fake camera runs at 60 frames/s, so the rate is the page's, not the camera's; this
    // loop's own polling (a canvas read every 400 ms) takes a little of it. Goal 30 (BENCHMARKS.md).
    if (/^CPU ×\d/.test(badge)) assert.ok(perSecond >= 20, `${perSecond.toFixed(1)} frames/s on ${badge} (floor 20 with two threads or more)`);
    else assert.ok(perSecond >= 1, `frames are classified continuously (${perSecond.toFixed(2)} frames/s on ${badge}; floor 1)`);
    assert.ok(overlays.size > 2, `the Grad-CAM overlay updates (${overlays.size} different drawings)`);
    assert.ok(bars.size > 2, `the SE bars move (${bars.size} different orders)`);
    assert.match(await page.textContent('#live-rate'), /^\d+\.\d frames\/s$/);
    assert.ok((await page.$$('#top5 li')).length === 5);
    await page.screenshot({ path: join(shots, 'live-camera.png') });

    await page.click('#live-button'); // pause
    await page.waitForTimeout(1000);
    const paused = await frames();
    await page.waitForTimeout(1500);
    assert.equal(await frames(), paused, 'paused: no more frames');
    assert.equal(await page.getAttribute('#live-button', 'aria-pressed'), 'false');
    await page.click('#live-button'); // resume
    await page.waitForFunction((n) => Number(document.querySelector('#live-rate').dataset.frames) > n, paused, { timeout: MINUTES });
    // A frame becomes an example of the Fine-tune panel's first class.
    await page.selectOption('#frame-class', '0');
    await page.click('#frame-to-class');
    await page.waitForFunction(() => /Added the frame to "class A"/.test(document.querySelector('#alerts').textContent));
    await page.click('#camera-close');
    await page.click('#tab-train');
    assert.match(await page.textContent('[data-testid="class-row"] .muted'), /^1 image\(s\)$/);
    assert.ok(await page.isHidden('#camera'));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
