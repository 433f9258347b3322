// `make site`: the page as a folder any static host serves (site/, ignored by git). It holds
// exactly the files the service worker keeps (sw.js's APP_FILES, ON_DEMAND_FILES, CPU_FILES and
// THREADED_FILES: the one list of what the page needs) plus
// sw.js itself and the vendored library's licence, each with brotli and gzip copies beside it,
// and a `_headers` file that makes hosts which read one (Netlify, Cloudflare Pages) send the
// cross-origin isolation headers; elsewhere sw.js adds them from the second visit on. Every URL in the page is relative, so the folder works at a
// domain's root or under a sub-path (a project site such as https://user.example/secnn/).
// Usage: node tools/site.mjs   (after `make web`)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ISOLATION_HEADERS } from './static-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const site = join(root, 'site');

/**
 * sw.js's APP_FILES, ON_DEMAND_FILES, CPU_FILES and THREADED_FILES (the files it keeps), read from its
 * source: it is a classic service worker and cannot be imported.
 */
export function appFiles() {
  const source = readFileSync(join(root, 'sw.js'), 'utf8');
  return ['APP_FILES', 'ON_DEMAND_FILES', 'CPU_FILES', 'THREADED_FILES'].flatMap((name) => {
    const list = source.match(new RegExp(`const ${name} = \\[([\\s\\S]*?)\\];`));
    if (!list) throw new Error(`sw.js has no ${name} list`);
    return [...list[1].matchAll(/'([^']*)'/g)].map((m) => m[1]).filter((file) => file !== './');
  });
}

/** Whether `make web` left brotli and gzip copies of `file` that are at least as new as it. */
function freshlyCompressed(file) {
  const made = statSync(join(root, file)).mtimeMs;
  return ['.br', '.gz'].every((suffix) => existsSync(join(root, file + suffix)) && statSync(join(root, file + suffix)).mtimeMs >= made);
}

/** Every file of site/ but `_headers`: the page's, sw.js, a licence. */
export const siteFiles = () => [...appFiles(), 'sw.js', 'www/page/vendor/uPlot.LICENSE'];

/** The cross-origin isolation headers (the static server's own), for hosts that read a `_headers` file. */
const HEADERS_FILE = `/*\n${Object.entries(ISOLATION_HEADERS).map(([name, value]) => `  ${name}: ${value}\n`).join('')}`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(site, { recursive: true, force: true });
  const uncompressed = [];
  for (const file of siteFiles()) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run \`make web\` first`);
    mkdirSync(dirname(join(site, file)), { recursive: true });
    cpSync(join(root, file), join(site, file));
    // Copies made by `make web` are reused (brotli 11 of the WebGPU wasm takes over a minute).
    if (freshlyCompressed(file)) for (const suffix of ['.br', '.gz']) cpSync(join(root, file + suffix), join(site, file + suffix));
    else uncompressed.push(join(site, file));
  }
  execFileSync('node', [join(root, 'tools', 'compress.mjs'), ...uncompressed], { stdio: 'inherit' });
  writeFileSync(join(site, '_headers'), HEADERS_FILE);
  console.log(`site/: the page, ready for any static host (README, "Publish the page")`);
}
