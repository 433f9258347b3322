// Copies the browser libraries the page uses from node_modules into www/page/vendor (ignored by git),
// so the site has no third-party requests and no build step beyond a copy.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vendor = join(root, 'www', 'page', 'vendor');
mkdirSync(vendor, { recursive: true });
for (const [from, to] of [
  ['node_modules/uplot/dist/uPlot.esm.js', 'uPlot.esm.js'],
  ['node_modules/uplot/dist/uPlot.min.css', 'uPlot.min.css'],
  ['node_modules/uplot/LICENSE', 'uPlot.LICENSE'],
]) {
  copyFileSync(join(root, from), join(vendor, to));
}
console.log(`vendored uPlot into ${vendor}`);
