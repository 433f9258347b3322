// What the browser benchmarks share: headless Chromium (the system's, through playwright-core),
// a static server on a free port for a checkout's root, the bench page opened and ready, and the
// median the tables quote.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { staticServer } from '../tools/static-server.mjs';

/** The repository root (with a trailing slash). */
export const here = new URL('..', import.meta.url).pathname;
export const { chromium } = createRequire(here)('playwright-core');

/** Serves `root` (a checkout, or a folder with its www/ and bench/browser/) on a free port. */
export async function serveRoot(root) {
  const server = staticServer({ root });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Exits with a message unless `root` holds every one of `paths`: a page without them fails only
 * after a long timeout (the bench page loads TF.js from bench/node_modules). */
export function requireFiles(root, paths) {
  const missing = paths.filter((path) => !existsSync(join(root, path)));
  if (missing.length === 0) return;
  console.error(`${root} lacks ${missing.join(', ')} (copy or link them from a checkout)`);
  process.exit(2);
}

/** Headless Chromium with `args`; the caller closes it. */
export function launch(args = ['--no-sandbox', '--disable-dev-shm-usage']) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args });
}

/** bench/browser/ of `origin` in a new Chromium, once its `bench` object is ready. */
export async function openBenchPage(origin, args, log = (...a) => console.error(...a)) {
  const browser = await launch(args);
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') log('console:', m.text()); });
  page.on('pageerror', (e) => log('page error:', e.message));
  page.setDefaultTimeout(1_800_000);
  await page.goto(`${origin}/bench/browser/`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  return { browser, page };
}

/** The median; of an even count, the mean of the middle two. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
