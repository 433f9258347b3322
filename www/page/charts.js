// The fine-tune panel's line charts (uPlot). The library is loaded when the panel is first used,
// not with the page: most visitors only classify, and a browser whose Intl rejects its own
// language tag (WebKit with LANG=C reports "C") makes uPlot throw when it is imported; then the
// charts are missing and say so, and everything else works.

let library = null;

/** uPlot (and its stylesheet), loaded once. */
export function loadCharts() {
  library ??= (async () => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = new URL('./vendor/uPlot.min.css', import.meta.url).href;
    document.head.append(link);
    return (await import('./vendor/uPlot.esm.js')).default;
  })();
  return library;
}

/**
 * A line chart of `series` ([label, colour] pairs) against the step in `element`, or, when the
 * library could not load, a line saying so. Returns `{ plot, data }`: push to `data`, then
 * `plot.setData(data)` (a no-op without the library).
 *
 * For the end-to-end tests (and anyone debugging in the console) the element keeps the uPlot
 * instance as `element.uplot` (its `data` is what the chart shows), and each redraw writes how
 * many steps it drew to `data-points`.
 */
export async function makeChart(element, series, { log = false } = {}) {
  element.replaceChildren();
  const data = [[], ...series.map(() => [])];
  let uPlot;
  try {
    uPlot = await loadCharts();
  } catch (error) {
    element.textContent = `Charts unavailable in this browser (${error.message}).`;
    return { plot: { setData() {} }, data };
  }
  const width = Math.max(240, element.clientWidth || element.parentElement.clientWidth || 300);
  const plot = new uPlot({
    width,
    height: 170,
    scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
    axes: [{ label: 'step' }, log ? { values: (u, ticks) => ticks.map((v) => (v ? v.toExponential(0) : '')) } : {}],
    legend: { live: false },
    series: [{ label: 'step' }, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, spanGaps: true, points: { show: label.startsWith('validation') } }))],
    hooks: { draw: [(u) => { element.dataset.points = String(u.data[0].length); }] },
  }, data, element);
  element.uplot = plot;
  return { plot, data };
}
