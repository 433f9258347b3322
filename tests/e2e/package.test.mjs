// The npm package, installed the way users install it: `make package`'s tarball goes into fixture
// apps made in a temporary folder outside the repository (a Vite app, built and on the dev
// server; a webpack 5 production build; a plain page on one origin loading the unpacked package
// from another, as from a CDN). Each app creates the model on the CPU path, classifies a fixed
// image and shows the top class, which must equal what the repository's own module answers.
// The bundlers come from the npm registry, pinned by tests/e2e/apps/package-lock.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { MINUTES, URL as PAGE_URL, BASE_FLAGS, root, shots, work, startTestServer, freePort } from './browser.mjs';
import { cpus } from 'node:os';
import { staticServer } from '../../tools/static-server.mjs';

/** The CPU build an isolated page runs: the threaded one, given two cores (serve() isolates, as `make serve` does). */
const THREADED = cpus().length >= 2 ? 'threads' : 'cpu';

const VERSION = readFileSync(join(root, 'Cargo.toml'), 'utf8').match(/^version = "(.*)"$/m)[1];
// SECNN_TARBALL: another tarball to try the apps with (e.g. one made of an older module).
const TARBALL = process.env.SECNN_TARBALL ?? join(root, `secnn-${VERSION}.tgz`);
const SAMPLE = join(root, 'docs', 'screenshot.png');
const apps = join(work, 'apps');
const timings = {};
const downloads = {};
let reference;
let repositoryServer;

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');
const tarball = () => execFileSync('tar', ['-tzf', TARBALL], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
const webgpuWasm = () => sha(readFileSync(join(root, 'www', 'secnn', 'pkg', 'secnn_bg.wasm')));

async function timed(name, work) {
  const start = performance.now();
  try { return await work(); } finally { timings[name] = Math.round(performance.now() - start); }
}


/** Serves `dir` on a free port; `requests` lists `{ path, file, bytes }` in order. */
async function serve(dir, options = {}) {
  const requests = [];
  const server = staticServer({ root: dir, ...options, onRequest: (r) => requests.push(r) });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, requests, url: `http://127.0.0.1:${server.address().port}${options.base ?? '/'}` };
}

/** Opens `url` in Chromium, waits for the app's answer and returns it with what went wrong. */
async function runApp(url, { webgpu = false, shot } = {}) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: webgpu ? [...BASE_FLAGS, '--enable-unsafe-webgpu'] : BASE_FLAGS });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/favicon/.test(m.location().url)) problems.push(`console: ${m.text()}`); });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('top').textContent !== '…', null, { timeout: 8 * MINUTES });
    const answer = {
      top: await page.textContent('#top'), backend: await page.getAttribute('#top', 'data-backend'),
      module: await page.getAttribute('#top', 'data-module'), threads: Number(await page.getAttribute('#top', 'data-threads')), problems,
    };
    if (shot) await page.screenshot({ path: join(shots, shot) });
    return answer;
  } finally {
    await browser.close();
  }
}

/** The app's answer equals the repository module's own (the same wasm, so the same numbers). */
function assertSameAnswer(answer, { tolerance = 1e-6 } = {}) {
  assert.doesNotMatch(answer.top, /^error/, answer.top);
  const [label, probability] = answer.top.split(' ');
  assert.equal(label, reference.label);
  assert.ok(Math.abs(Number(probability) - reference.probability) <= tolerance, `${probability} against ${reference.probability}`);
}

/** The CPU path never fetched the WebGPU build's wasm (found by content: bundlers rename files). */
function assertNoWebGpuModule(requests) {
  const webgpu = webgpuWasm();
  const served = requests.filter((r) => r.file?.endsWith('.wasm')).map((r) => r.file);
  assert.ok(served.length >= 1, 'no wasm module was served at all');
  for (const file of served) assert.notEqual(sha(readFileSync(file)), webgpu, `the CPU path fetched the WebGPU module (${file})`);
}

/**
 * Precompresses `dir` as a static host would serve it, but for the WebGPU build's 31 MB wasm:
 * brotli 11 of it takes over a minute, and it is not on the CPU path whose bytes are measured.
 */
const compress = (dir) => execFileSync('node', [join(root, 'tools', 'compress.mjs'), '--max-bytes', String(16e6), dir]);

/** Bytes on the wire (precompressed like a static host) before the first prediction, the app's own image left out. */
const bytesBefore = (requests) => requests.filter((r) => !r.path.endsWith('/sample.png')).reduce((sum, r) => sum + r.bytes, 0);

before(async () => {
  assert.ok(existsSync(TARBALL), `${TARBALL} not found: run \`make package\` first`);
  cpSync(join(root, 'tests', 'e2e', 'apps'), apps, { recursive: true });
  await timed('install', () => {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: apps, stdio: 'inherit' });
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', TARBALL], { cwd: apps, stdio: 'inherit' });
  });
  for (const app of ['vite', 'webpack', 'cdn']) {
    cpSync(join(apps, 'main.js'), join(apps, app, 'main.js'));
    cpSync(SAMPLE, join(apps, app, app === 'vite' ? 'public' : '.', 'sample.png')); // Vite copies public/ as is
  }
  // The reference: the repository's own module, unbundled, on the same image.
  repositoryServer = await startTestServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BASE_FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${PAGE_URL}www/examples/embed.html`);
    reference = await page.evaluate(async (image) => {
      const { SeCnn } = await import('/www/secnn/secnn.js');
      const model = await SeCnn.create({ backend: 'cpu' });
      const { top } = await model.classify(await (await fetch(image)).blob());
      model.terminate();
      return { label: top[0].label, probability: Number(top[0].probability.toFixed(6)) };
    }, `${PAGE_URL}docs/screenshot.png`);
  } finally {
    await browser.close();
  }
});

after(() => {
  repositoryServer?.kill();
  writeFileSync(join(shots, 'package-apps.json'), JSON.stringify({ timingsMs: timings, bytesBeforeFirstPrediction: downloads }, null, 2));
  console.log(`package apps: ${JSON.stringify({ timings, downloads })}`);
});

test('the tarball holds every file the module loads, and its package.json points at them', () => {
  const files = new Set(tarball());
  for (const file of ['package.json', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'secnn.js', 'secnn-worker.js', 'secnn-pool-worker.js', 'secnn-args.js', 'secnn-protocol.js', 'secnn-assets.js', 'secnn-images.js', 'secnn-backends.js', 'secnn-pool.js', 'secnn-store.js', 'secnn.d.ts',
    'pkg-cpu/secnn.js', 'pkg-cpu/secnn_bg.wasm', 'pkg-threads/secnn.js', 'pkg-threads/secnn_bg.wasm', 'pkg/secnn.js', 'pkg/secnn_bg.wasm',
    'pkg-archive/secnn_archive.js', 'pkg-archive/secnn_archive_bg.wasm', 'pkg-onnx/secnn_onnx.js', 'pkg-onnx/secnn_onnx_bg.wasm',
    'secnn-fetch.js', 'model/secnn-cifar10.bpk']) {
    assert.ok(files.has(file), `${file} is not in the tarball`);
  }
  // Every relative file a script of the package names (imports, `new URL(…, import.meta.url)`) is in it.
  for (const script of [...files].filter((f) => f.endsWith('.js'))) {
    const source = execFileSync('tar', ['-xzOf', TARBALL, `package/${script}`], { encoding: 'utf8' })
      .replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // comments name no file
    const named = [...source.matchAll(/(?:import\(\s*|from\s+|new URL\(\s*)['"](\.{0,2}\/?[\w./-]+\.(?:js|wasm|bpk))['"]/g)].map((m) => m[1]);
    for (const name of named) {
      const path = new URL(name, `file:///${script}`).pathname.slice(1);
      assert.ok(files.has(path), `${script} names ${name}, which is not in the tarball`);
    }
  }
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', TARBALL, 'package/package.json'], { encoding: 'utf8' }));
  assert.equal(manifest.version, VERSION);
  assert.equal(manifest.type, 'module');
  assert.deepEqual(manifest.exports['.'], { types: './secnn.d.ts', default: './secnn.js' });
  for (const entry of ['./secnn-worker.js', './pkg-cpu/secnn_bg.wasm', './pkg-threads/secnn_bg.wasm', './pkg/secnn_bg.wasm', './model/secnn-cifar10.bpk']) {
    assert.ok(files.has(manifest.exports[entry]?.slice(2)), `exports["${entry}"] does not name a packed file`);
  }
});

test('Vite: the production build classifies on the CPU without fetching the WebGPU module, and on WebGPU', { timeout: 20 * MINUTES }, async () => {
  const app = join(apps, 'vite');
  await timed('viteBuild', () => execFileSync(join(apps, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' }));
  compress(join(app, 'dist'));
  const { server, requests, url } = await serve(join(app, 'dist'));
  try {
    const cpu = await timed('viteCpu', () => runApp(url, { shot: 'package-vite.png' }));
    downloads.vite = bytesBefore(requests);
    assertSameAnswer(cpu);
    assert.equal(cpu.backend, 'cpu');
    assert.equal(cpu.module, THREADED, 'the bundled threaded module did not start (the page is cross-origin isolated)');
    if (THREADED === 'threads') assert.ok(cpu.threads >= 2, `the bundled pool did not start: ${cpu.threads} thread(s)`);
    assert.deepEqual(cpu.problems, []);
    assertNoWebGpuModule(requests);
    const gpu = await timed('viteWebGpu', () => runApp(`${url}?backend=webgpu`, { webgpu: true }));
    assertSameAnswer(gpu, { tolerance: 1e-3 }); // another device's float arithmetic
    assert.equal(gpu.backend, 'webgpu');
  } finally {
    server.close();
  }
});

test('Vite: the dev server serves the installed package', { timeout: 10 * MINUTES }, async () => {
  const port = await freePort();
  const dev = spawn(join(apps, 'node_modules', '.bin', 'vite'), ['--port', String(port), '--strictPort', '--host', '127.0.0.1'],
    { cwd: join(apps, 'vite'), stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/`;
    for (let i = 0; i < 300 && !(await fetch(url).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    const answer = await timed('viteDev', () => runApp(url));
    assertSameAnswer(answer);
    assert.deepEqual(answer.problems, []);
  } finally {
    dev.kill();
  }
});

test('webpack 5: the production build classifies on the CPU without fetching the WebGPU module', { timeout: 10 * MINUTES }, async () => {
  const webpack = createRequire(join(apps, 'package.json'))('webpack');
  const dist = join(apps, 'webpack', 'dist');
  const config = { mode: 'production', context: join(apps, 'webpack'), entry: './main.js', output: { path: dist, clean: true }, performance: { hints: false } };
  const stats = await timed('webpackBuild', () => new Promise((resolve, reject) => webpack(config, (error, result) => (error ? reject(error) : resolve(result)))));
  assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
  for (const file of ['index.html', 'sample.png']) cpSync(join(apps, 'webpack', file), join(dist, file));
  compress(dist);
  const { server, requests, url } = await serve(dist);
  try {
    const answer = await timed('webpackCpu', () => runApp(url, { shot: 'package-webpack.png' }));
    downloads.webpack = bytesBefore(requests);
    assertSameAnswer(answer);
    assert.equal(answer.module, THREADED, 'the bundled threaded module did not start (the page is cross-origin isolated)');
    if (THREADED === 'threads') assert.ok(answer.threads >= 2, `the bundled pool did not start: ${answer.threads} thread(s)`);
    assert.deepEqual(answer.problems, []);
    assertNoWebGpuModule(requests);
  } finally {
    server.close();
  }
});

test('from another origin (a CDN): a plain page imports the unpacked package, its worker starts through a blob', { timeout: 10 * MINUTES }, async () => {
  const cdnRoot = join(apps, 'cdn-host', 'secnn');
  mkdirSync(cdnRoot, { recursive: true });
  execFileSync('tar', ['-xzf', TARBALL, '-C', cdnRoot, '--strip-components=1']);
  compress(cdnRoot);
  const cdn = await serve(join(apps, 'cdn-host'), { cors: true });
  const importMap = JSON.stringify({ imports: { secnn: `${cdn.url}secnn/secnn.js` } });
  const cdnOrigin = cdn.url.slice(0, -1);
  const html = readFileSync(join(apps, 'cdn', 'index.html'), 'utf8')
    .replace('{{IMPORTMAP}}', importMap)
    .replace('{{HASH}}', `sha256-${createHash('sha256').update(importMap).digest('base64')}`)
    .replaceAll('{{CDN}}', cdnOrigin);
  writeFileSync(join(apps, 'cdn', 'index.html'), html);
  const page = await serve(join(apps, 'cdn'));
  try {
    assert.notEqual(new URL(page.url).origin, new URL(cdn.url).origin);
    const answer = await timed('cdnCpu', () => runApp(page.url, { shot: 'package-cdn.png' }));
    downloads.cdn = bytesBefore(page.requests) + bytesBefore(cdn.requests);
    assertSameAnswer(answer);
    // Isolated, but the threaded module's pool workers cannot start from another origin: the single-threaded one runs.
    assert.equal(answer.module, 'cpu');
    assert.deepEqual(answer.problems, []);
    assert.ok(cdn.requests.some((r) => r.path === '/secnn/secnn-worker.js'), 'the worker did not come from the CDN');
    assert.deepEqual(cdn.requests.filter((r) => r.path.startsWith('/secnn/pkg/')), [], 'the CPU path fetched the WebGPU module');
    assertNoWebGpuModule(cdn.requests);
  } finally {
    page.server.close();
    cdn.server.close();
  }
});
