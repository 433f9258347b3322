// Renders the page's PNG icons from www/icon.svg with headless Chromium (Debian's, through
// playwright-core): 192 and 512 px as drawn ("any"), a maskable 512 px one (full-bleed
// background, the bars inside the central 80 % safe zone) and a 180 px apple-touch icon.
// The PNGs are committed; run this again after changing the SVG: node tools/icons.mjs
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const www = join(dirname(fileURLToPath(import.meta.url)), '..', 'www');
const svg = readFileSync(join(www, 'icon.svg'), 'utf8');
const background = '<rect width="64" height="64" rx="12" fill="#3b528b"/>';
if (!svg.includes(background)) throw new Error('icon.svg no longer starts with its background rectangle: update tools/icons.mjs');
const maskable = svg
  .replace(background, '<rect width="64" height="64" fill="#3b528b"/><g transform="translate(6.4 6.4) scale(0.8)">')
  .replace('</svg>', '</g></svg>');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
for (const [name, size, source] of [
  ['icon-192.png', 192, svg], ['icon-512.png', 512, svg], ['icon-maskable-512.png', 512, maskable], ['apple-touch-icon.png', 180, maskable],
]) {
  await page.setViewportSize({ width: size, height: size });
  await page.setContent(`<style>html,body{margin:0;background:transparent}svg{width:${size}px;height:${size}px;display:block}</style>${source}`);
  await page.screenshot({ path: join(www, name), omitBackground: true });
}
await browser.close();
console.log('icons written to www/');
