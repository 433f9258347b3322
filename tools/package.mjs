// `make package`: the browser module as an npm package, `secnn-<version>.tgz` in the repository
// root (the version is Cargo.toml's). The package's files are staged in build/npm/ with a
// package.json written here (not wasm-pack's), then `npm pack` makes the tarball, and the
// tarball's listing is checked against what was staged: npm obeys ignore files (wasm-pack puts
// a `.gitignore` of `*` in each pkg folder), so a file it drops fails the build here.
// Usage: node tools/package.mjs   (after `make web`)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stage = join(root, 'build', 'npm');

/** [source in the repository, path in the package]: what the module needs at run time. */
const RUNTIME_FILES = [
  ['www/secnn/secnn.js', 'secnn.js'],
  ['www/secnn/secnn-worker.js', 'secnn-worker.js'],
  ['www/secnn/secnn-pool-worker.js', 'secnn-pool-worker.js'],
  ['www/secnn/secnn-args.js', 'secnn-args.js'],
  ['www/secnn/secnn-protocol.js', 'secnn-protocol.js'],
  ['www/secnn/secnn-assets.js', 'secnn-assets.js'],
  ['www/secnn/secnn-images.js', 'secnn-images.js'],
  ['www/secnn/secnn-backends.js', 'secnn-backends.js'],
  ['www/secnn/secnn-pool.js', 'secnn-pool.js'],
  ['www/secnn/secnn-store.js', 'secnn-store.js'],
  ['www/secnn/secnn-fetch.js', 'secnn-fetch.js'],
  ['www/secnn/secnn.d.ts', 'secnn.d.ts'],
  ['www/secnn/pkg-cpu/secnn.js', 'pkg-cpu/secnn.js'],
  ['www/secnn/pkg-cpu/secnn_bg.wasm', 'pkg-cpu/secnn_bg.wasm'],
  ['www/secnn/pkg-threads/secnn.js', 'pkg-threads/secnn.js'],
  ['www/secnn/pkg-threads/secnn_bg.wasm', 'pkg-threads/secnn_bg.wasm'],
  ['www/secnn/pkg/secnn.js', 'pkg/secnn.js'],
  ['www/secnn/pkg/secnn_bg.wasm', 'pkg/secnn_bg.wasm'],
  ['www/secnn/pkg-archive/secnn_archive.js', 'pkg-archive/secnn_archive.js'],
  ['www/secnn/pkg-archive/secnn_archive_bg.wasm', 'pkg-archive/secnn_archive_bg.wasm'],
  ['www/secnn/pkg-onnx/secnn_onnx.js', 'pkg-onnx/secnn_onnx.js'],
  ['www/secnn/pkg-onnx/secnn_onnx_bg.wasm', 'pkg-onnx/secnn_onnx_bg.wasm'],
  ['www/secnn/model/secnn-cifar10.bpk', 'model/secnn-cifar10.bpk'],
];
/** wasm-bindgen's inline JS snippets, when a build has any (imported by its glue). */
const SNIPPET_DIRS = [['www/secnn/pkg-cpu/snippets', 'pkg-cpu/snippets'], ['www/secnn/pkg-threads/snippets', 'pkg-threads/snippets'], ['www/secnn/pkg/snippets', 'pkg/snippets']];
const LEGAL_FILES = [['LICENSE-MIT', 'LICENSE-MIT'], ['LICENSE-APACHE', 'LICENSE-APACHE']];
/** README.md's sections that make the package's README. */
const README_SECTIONS = ['Install', 'Use it from your own page'];

function cargoPackage() {
  const toml = readFileSync(join(root, 'Cargo.toml'), 'utf8');
  const section = toml.slice(toml.indexOf('[package]'), toml.indexOf('\n[', toml.indexOf('[package]') + 1));
  const field = (name) => section.match(new RegExp(`^${name} = "(.*)"$`, 'm'))?.[1];
  return { version: field('version'), description: field('description'), license: field('license') };
}

/** Every file below `dir`, as paths relative to it. */
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path).map((p) => join(name, p)) : [name];
  });
}

/** The README sections named above, in order, under one title. */
function packageReadme() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const sections = README_SECTIONS.map((title) => {
    const start = readme.indexOf(`\n## ${title}\n`);
    if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
    const end = readme.indexOf('\n## ', start + 1);
    return readme.slice(start + 1, end < 0 ? undefined : end).trim();
  });
  return [
    '# secnn — a Squeeze-and-Excitation CNN that classifies, explains and fine-tunes in the browser',
    '',
    'WebGPU through Burn, with a CPU (wasm SIMD) fallback; the model runs in a Web Worker and images never leave the device.',
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n');
}

function packageJson({ version, description, license }, files) {
  const exported = Object.fromEntries(files.filter((f) => !/\.(md|d\.ts)$|^LICENSE|snippets\//.test(f)).map((f) => [`./${f}`, `./${f}`]));
  return {
    name: 'secnn',
    version,
    description,
    license,
    type: 'module',
    main: './secnn.js',
    module: './secnn.js',
    browser: './secnn.js',
    types: './secnn.d.ts',
    // CDNs (unpkg, jsDelivr) serve this file for the bare package URL.
    unpkg: './secnn.js',
    jsdelivr: './secnn.js',
    exports: {
      '.': { types: './secnn.d.ts', default: './secnn.js' },
      ...exported,
      './package.json': './package.json',
    },
    files,
    // Only the workers do something when evaluated (they install their message handlers).
    sideEffects: ['./secnn-worker.js', './secnn-pool-worker.js'],
    keywords: ['cnn', 'squeeze-and-excitation', 'attention', 'grad-cam', 'webgpu', 'wasm', 'burn', 'cifar-10', 'fine-tuning'],
  };
}

function stageFiles() {
  rmSync(stage, { recursive: true, force: true });
  const copied = [];
  for (const [from, to] of [...RUNTIME_FILES, ...LEGAL_FILES]) {
    if (!existsSync(join(root, from))) throw new Error(`${from} is missing: run \`make web\` first`);
    mkdirSync(dirname(join(stage, to)), { recursive: true });
    cpSync(join(root, from), join(stage, to));
    copied.push(to);
  }
  for (const [from, to] of SNIPPET_DIRS) {
    if (!existsSync(join(root, from))) continue;
    cpSync(join(root, from), join(stage, to), { recursive: true });
    copied.push(...walk(join(stage, to)).map((f) => join(to, f)));
  }
  return copied;
}

const cargo = cargoPackage();
const files = stageFiles();
writeFileSync(join(stage, 'README.md'), packageReadme());
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(packageJson(cargo, files), null, 2)}\n`);
const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', root], { cwd: stage, encoding: 'utf8' }));
const inTarball = new Set(packed.files.map((f) => f.path));
const dropped = [...files, 'README.md', 'package.json'].filter((f) => !inTarball.has(f));
if (dropped.length) throw new Error(`npm pack dropped ${dropped.join(', ')}`);
console.log(`${relative(process.cwd(), join(root, packed.filename))}: ${packed.files.length} files, ` +
  `${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked`);
