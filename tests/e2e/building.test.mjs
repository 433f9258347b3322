// `make serve` serves the page once the CPU module is built and builds the others meanwhile,
// listing them in building.json: where a module the page would run is missing, the status bar
// says what is still building, and once building.json is gone, to reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MINUTES, root, work, openPage } from './browser.mjs';
import { staticServer } from '../../tools/static-server.mjs';

/** A folder serving what the checkout serves, less `www/secnn/pkg-threads` (not built yet). */
function checkoutWithoutThreads() {
  const dir = join(work, 'building');
  rmSync(dir, { recursive: true, force: true });
  const mirror = (from, to, skip) => {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) if (name !== skip) symlinkSync(join(from, name), join(to, name));
  };
  mirror(root, dir, 'www');
  mirror(join(root, 'www'), join(dir, 'www'), 'secnn');
  mirror(join(root, 'www', 'secnn'), join(dir, 'www', 'secnn'), 'pkg-threads');
  return dir;
}

test('while make serve builds the threaded module, the page runs on the CPU module, says what is still building, then to reload', { timeout: 5 * MINUTES }, async () => {
  const dir = checkoutWithoutThreads();
  writeFileSync(join(dir, 'building.json'), JSON.stringify({ building: ['the threaded CPU module', 'the WebGPU module'] }));
  const server = staticServer({ root: dir }); // cross-origin isolated, as `make serve`: the page wants threads
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { browser, page, problems } = await openPage({ webgpu: false, url: `http://127.0.0.1:${server.address().port}/` });
  try {
    const line = () => page.textContent('#build-line');
    await page.waitForFunction(() => !document.querySelector('#build-line').hidden, null, { timeout: MINUTES });
    assert.equal(await line(), 'make serve is still building the threaded CPU module, the WebGPU module; the page runs on the CPU module meanwhile.');
    const module = await page.evaluate(async () => (await import('/www/page/page-state.js')).page.model.backend.module);
    assert.equal(module, 'cpu', 'the single-threaded module stands in');
    rmSync(join(dir, 'building.json'));
    await page.waitForFunction(() => /has built every module: reload/.test(document.querySelector('#build-line').textContent), null, { timeout: MINUTES });
    // The missing module's own requests fail (404); nothing else may.
    assert.deepEqual(problems.filter((problem) => !/404|pkg-threads/.test(problem)), []);
  } finally {
    await browser.close();
    server.close();
  }
});
