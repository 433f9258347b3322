// Viridis (matplotlib's perceptually uniform, colour-blind-safe map): 17 samples, interpolated.
const VIRIDIS = [
  [68, 1, 84], [72, 24, 106], [71, 45, 123], [66, 64, 134], [59, 82, 139], [51, 99, 141],
  [44, 114, 142], [38, 130, 142], [33, 145, 140], [31, 160, 136], [40, 174, 128], [63, 188, 115],
  [94, 201, 98], [132, 212, 75], [173, 220, 48], [216, 226, 25], [253, 231, 37],
];

/** Viridis colour for t in [0, 1] as [r, g, b]. */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

export function css([r, g, b]) {
  return `rgb(${r | 0}, ${g | 0}, ${b | 0})`;
}

/** Paints a horizontal legend ramp into a canvas. */
export function drawLegend(canvas) {
  const context = canvas.getContext('2d');
  for (let x = 0; x < canvas.width; x++) {
    context.fillStyle = css(viridis(x / (canvas.width - 1)));
    context.fillRect(x, 0, 1, canvas.height);
  }
}

/** Draws a size×size map of values (normalised to its own range unless lo/hi given) into a canvas. */
export function drawMap(canvas, values, size, { lo, hi } = {}) {
  const min = lo ?? Math.min(...values);
  const max = hi ?? Math.max(...values);
  const range = max - min || 1;
  // Setting a canvas's size clears and reallocates it even when unchanged (live mode redraws).
  if (canvas.width !== size) canvas.width = size;
  if (canvas.height !== size) canvas.height = size;
  const context = canvas.getContext('2d');
  const image = context.createImageData(size, size);
  values.forEach((v, i) => {
    const [r, g, b] = viridis((v - min) / range);
    image.data.set([r, g, b, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

// PuOr (ColorBrewer's purple–orange, colour-blind safe) for signed changes: 9 samples.
const PUOR = [
  [84, 39, 136], [128, 115, 172], [178, 171, 210], [216, 218, 235], [247, 247, 247],
  [254, 224, 182], [253, 184, 99], [224, 130, 20], [179, 88, 6],
];

/** Diverging colour for t in [-1, 1]: purple below zero, white at zero, orange above. */
export function diverging(t) {
  const x = (Math.min(1, Math.max(-1, Number.isFinite(t) ? t : 0)) + 1) / 2 * (PUOR.length - 1);
  const i = Math.min(PUOR.length - 2, Math.floor(x));
  const f = x - i;
  const a = PUOR[i];
  const b = PUOR[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}
