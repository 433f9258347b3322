// Loads the page in Firefox ESR again and again, the way the engines test does (WebDriver BiDi,
// with a console listener), and counts the loads where the threaded module's model hangs: an
// example classified, the fine-tune tab opened and closed, then a second example that never
// comes back. Before the page started the pool's workers itself (kernels/src/pool_threads.rs),
// 9 loads in 109 hung here, the model's worker stuck in its own `new Worker`; 0 in 80 after.
//   node tools/firefox-pool-soak.mjs [LOADS]   (after `make web`; port as the e2e tests')
import puppeteer from 'puppeteer-core';
import { URL, startTestServer } from '../tests/e2e/browser.mjs';

const loads = Number(process.argv[2] ?? 20);

/** In the page: two examples classified, the fine-tune tab opened between them; what ran, or the hang. */
async function twoExamples() {
  const wait = async (condition, tenthsOfASecond) => {
    for (let i = 0; i < tenthsOfASecond && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return condition();
  };
  const alerts = () => document.querySelector('#alerts').textContent;
  const gallery = () => document.querySelectorAll('#gallery li').length;
  if (!(await wait(() => document.body.dataset.ready === 'true' || alerts(), 1200))) return { hung: 'the page never got ready' };
  document.querySelector('#examples button:nth-child(17)').click();
  if (!(await wait(() => gallery() === 1 || alerts(), 1200))) return { hung: 'the first example' };
  document.querySelector('#tab-train').click();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  document.querySelector('#tab-classify').click();
  document.querySelector('#random-example').click();
  const second = await wait(() => gallery() === 2 || alerts(), 300);
  const { page } = await import(new URL('www/page/page-state.js', document.baseURI).href);
  const { module, threads } = page.model.backend;
  return { hung: second ? null : 'the second example (30 s)', module, threads, alerts: alerts() };
}

const server = await startTestServer();
let hung = 0;
try {
  for (let i = 0; i < loads; i++) {
    const browser = await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true });
    try {
      const page = await browser.newPage();
      page.on('console', () => {}); // the listener the engines test has: it made the hang likelier
      await page.goto(URL);
      const result = await page.evaluate(twoExamples);
      if (result.hung) hung += 1;
      console.log(`load ${i + 1}: ${result.hung ? `HUNG waiting for ${result.hung}` : 'ok'}, ${result.module} ×${result.threads}${result.alerts ? `, alerts: ${result.alerts}` : ''}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  server.kill();
}
console.log(`${hung} of ${loads} loads hung`);
process.exitCode = hung ? 1 : 0;
