// Lighthouse (npm `lighthouse`, run on Debian's Chromium) on the page as `make serve` serves it,
// with its desktop and mobile presets; part of `make bench`. Each preset runs RUNS times and the
// median of each category's score is kept (Lighthouse's own advice for variable scores), with the
// audits that failed in the median run. Writes bench/results-browser/lighthouse.json and the
// table between the `lighthouse` markers in BENCHMARKS.md.
//
//   node bench/lighthouse.mjs [--runs N]    (needs `make web` and `npm ci --prefix bench`)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { startServer } from '../tools/serve.mjs';
import { median } from './chromium.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'bench', 'package.json'));
const { default: lighthouse, desktopConfig } = await import(require.resolve('lighthouse'));
const chromeLauncher = await import(require.resolve('chrome-launcher'));

const RUNS = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
const PORT = 19500 + (process.pid % 400);
const URL = `http://127.0.0.1:${PORT}/`;
const RESULTS = join(root, 'bench', 'results-browser', 'lighthouse.json');
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const FLAGS = ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];


async function audit(port, preset) {
  const config = preset === 'desktop' ? desktopConfig : undefined; // Lighthouse's default is mobile
  const { lhr } = await lighthouse(URL, { port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES }, config);
  const scores = Object.fromEntries(CATEGORIES.map((c) => [c, Math.round(lhr.categories[c].score * 100)]));
  const failed = Object.values(lhr.audits)
    .filter((a) => a.score !== null && a.score < 0.9 && a.scoreDisplayMode !== 'informative' && a.scoreDisplayMode !== 'manual')
    .map((a) => `${a.id}${a.displayValue ? ` (${a.displayValue})` : ''}`);
  const metric = (id) => lhr.audits[id]?.numericValue;
  return { scores, failed, lcpMs: metric('largest-contentful-paint'), tbtMs: metric('total-blocking-time'), cls: metric('cumulative-layout-shift') };
}

function summarise(runs) {
  const scores = Object.fromEntries(CATEGORIES.map((c) => [c, median(runs.map((r) => r.scores[c]))]));
  const middle = runs.find((r) => r.scores.performance === scores.performance) ?? runs[0];
  return { scores, runs: runs.length, failedInMedianRun: middle.failed, lcpMs: middle.lcpMs, tbtMs: middle.tbtMs, cls: middle.cls };
}

function table(results) {
  const rows = Object.entries(results.presets).map(([preset, r]) =>
    `| ${preset} | ${CATEGORIES.map((c) => r.scores[c]).join(' | ')} | ${(r.lcpMs / 1000).toFixed(2)} s | ${Math.round(r.tbtMs)} ms | ${r.cls.toFixed(3)} | ${r.failedInMedianRun.join(', ') || '–'} |`);
  return [
    `Lighthouse ${results.lighthouse} on Chromium ${results.chromium}, ${results.date}; medians of ${results.runs} runs per preset`,
    '(`node bench/lighthouse.mjs`). LCP, TBT and CLS are the median run\'s; "below 90" lists its audits that scored under 0.9.',
    '',
    '| preset | performance | accessibility | best practices | SEO | LCP | TBT | CLS | below 90 |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

function writeTable(results) {
  const path = join(root, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const [start, end] = ['<!-- lighthouse:start -->', '<!-- lighthouse:end -->'];
  if (!text.includes(start)) throw new Error(`BENCHMARKS.md has no ${start} marker`);
  writeFileSync(path, text.slice(0, text.indexOf(start) + start.length) + '\n' + table(results) + '\n' + text.slice(text.indexOf(end)));
}

const server = await startServer(PORT);
const chrome = await chromeLauncher.launch({ chromePath: '/usr/bin/chromium', chromeFlags: FLAGS });
try {
  const presets = {};
  for (const preset of ['desktop', 'mobile']) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(await audit(chrome.port, preset));
      console.error(`[lighthouse] ${preset} run ${i + 1}: ${JSON.stringify(runs.at(-1).scores)}`);
    }
    presets[preset] = summarise(runs);
  }
  const version = await (await fetch(`http://127.0.0.1:${chrome.port}/json/version`)).json();
  const results = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    lighthouse: JSON.parse(readFileSync(require.resolve('lighthouse/package.json'), 'utf8')).version,
    chromium: version.Browser.replace(/^.*\//, ''),
    runs: RUNS,
    presets,
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(results, null, 2));
  writeTable(results);
  console.log(table(results));
} finally {
  await chrome.kill();
  server.kill();
}
