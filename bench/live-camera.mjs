// Live camera frames/s on the page's CPU path (the threaded module on two cores), headless
// Chromium with a fake camera at 60 frames/s, so the rate is the page's and not the camera's.
// With OTHER_ROOT (a folder serving another version of the page: index.html, sw.js, www/), the
// two alternate in one run and the ratio is printed.
//   node bench/live-camera.mjs [OTHER_ROOT] [ROUNDS]
import { here, launch, median, requireFiles, serveRoot } from './chromium.mjs';

const roots = { this: here, ...(process.argv[2] ? { other: process.argv[2] } : {}) };
if (process.argv[2]) requireFiles(process.argv[2], ['index.html', 'sw.js', 'www/secnn/pkg-threads']);
const rounds = Number(process.argv[3] ?? 3);
const SECONDS = 6;
const FLAGS = ['--no-sandbox', '--disable-dev-shm-usage', '--use-fake-device-for-media-stream=fps=60', '--use-fake-ui-for-media-stream'];

/** Frames/s over SECONDS once the live mode runs, and the runtime's median ms a frame. */
async function measure(origin) {
  const browser = await launch(FLAGS);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 300_000 });
    await page.click('#camera-button');
    await page.waitForFunction(() => document.querySelector('#camera-video').videoWidth > 0);
    await page.click('#live-button');
    await page.waitForTimeout(3000); // the pool and the first frames
    const frames = () => page.$eval('#live-rate', (rate) => Number(rate.dataset.frames ?? 0));
    const [start, started] = [await frames(), Date.now()];
    await page.waitForTimeout(SECONDS * 1000);
    const perSecond = ((await frames()) - start) / ((Date.now() - started) / 1000);
    return { perSecond, badge: await page.textContent('#backend-badge'), frameMs: await page.textContent('#inference-time') };
  } finally {
    await browser.close();
  }
}

const servers = {};
for (const [name, root] of Object.entries(roots)) servers[name] = await serveRoot(root);
const results = Object.fromEntries(Object.keys(roots).map((name) => [name, []]));
for (let round = 0; round < rounds; round++) {
  const order = Object.keys(roots);
  for (const name of round % 2 ? order.reverse() : order) {
    const { perSecond, badge, frameMs } = await measure(servers[name].origin);
    results[name].push(perSecond);
    console.log(round, name, perSecond.toFixed(1), 'frames/s', `(${badge}; ${frameMs})`);
  }
}
for (const [name, values] of Object.entries(results)) console.log(`${name}: median ${median(values).toFixed(1)} frames/s`);
if (results.other) console.log(`ratio this/other ${(median(results.this) / median(results.other)).toFixed(2)}`);
for (const { server } of Object.values(servers)) server.close();
