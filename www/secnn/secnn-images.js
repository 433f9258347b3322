// Reading an image argument: drawables and ImageData as they are; encoded files through the
// runtime's decoder (the CLI's), or the browser's where it does better (large photos, SVG,
// formats the Rust decoder does not read).
import { absolute } from './secnn-assets.js';
import { ERROR_CODES, codedError } from './secnn-protocol.js';

function isEncoded(image) {
  return image instanceof Blob || image instanceof ArrayBuffer || image instanceof Uint8Array;
}

export async function bytesOf(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  return absolute(source); // a URL: the worker fetches it
}

/** RGBA pixels of a drawable (or ImageData) at its natural size, or at `size` when given. */
export function pixelsOf(image, size = null) {
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    return { rgba: new Uint8Array(image.data.buffer.slice(0)), width: image.width, height: image.height };
  }
  const width = size?.width || image.naturalWidth || image.videoWidth || image.width;
  const height = size?.height || image.naturalHeight || image.videoHeight || image.height;
  if (!width || !height) throw codedError('the image has no pixels (not loaded yet?)', ERROR_CODES.notAnImage);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(image, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height);
  return { rgba: new Uint8Array(data.data.buffer), width, height };
}

/** Short side, in pixels, that large photos and SVGs are drawn at before the resize rule. */
const PRESCALED_SIDE = 256;
/**
 * Photos whose short side is at least this are decoded by the browser (see `decodeLarge`):
 * decoding every pixel in wasm took 699 ms for a 12 MP JPEG, the browser's decoder scaling
 * while it decodes 293 ms for a 48 MP one. Smaller images keep the CLI's decoder bit for bit.
 */
const BROWSER_DECODE_SHORT_SIDE = 2 * PRESCALED_SIDE;

/** `{ width, height }` scaled so the short side is PRESCALED_SIDE. */
function prescaled({ width, height }) {
  const scale = PRESCALED_SIDE / Math.min(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * A photo (a 12 or 48 MP phone picture, a large screenshot): the browser's native decoder, with
 * the file's EXIF orientation, scales it while decoding so its short side is 256 px (8× the
 * model's input), far faster than decoding every pixel in wasm. The resize rule then runs in
 * Rust as for any image, so the CLI (which decodes the full photo) gives the same top class.
 * Null where the browser cannot (a file only the Rust decoder reads, a bitmap not upright at
 * that size): the Rust decoder then reads it.
 */
async function decodeLarge(bytes, originalSize) {
  const size = prescaled(originalSize);
  // Colours as the file stores them, like the Rust decoder (no ICC conversion).
  const bitmap = await createImageBitmap(new Blob([bytes]), {
    imageOrientation: 'from-image', colorSpaceConversion: 'none', resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high',
  }).catch(() => null);
  if (!bitmap) return null;
  try {
    // Upright at the size asked for, or not trusted (a browser that resized before rotating).
    return bitmap.width === size.width && bitmap.height === size.height ? pixelsOf(bitmap) : null;
  } finally {
    bitmap.close();
  }
}

/**
 * A format the Rust decoder knows but does not read (AVIF; HEIC in Safari; TIFF in some
 * browsers), decoded by the browser where it can, upright, then the resize rule in Rust as for
 * any image. Where the browser cannot either, the runtime's refusal (code 'unsupported-format',
 * saying what to convert to) stands.
 */
async function decodeByBrowser(bytes, refusal) {
  if (typeof createImageBitmap !== 'function') throw refusal;
  const bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: 'from-image' }).catch(() => null);
  if (!bitmap) throw refusal;
  try {
    if (Math.min(bitmap.width, bitmap.height) < BROWSER_DECODE_SHORT_SIDE) return pixelsOf(bitmap);
    const size = prescaled(bitmap);
    const scaled = await createImageBitmap(bitmap, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' });
    try {
      return pixelsOf(scaled);
    } finally {
      scaled.close();
    }
  } finally {
    bitmap.close();
  }
}

/** Whether `bytes` hold an SVG document (which the Rust decoder does not read). */
function isSvg(bytes) {
  const head = new TextDecoder().decode(bytes.subarray(0, 1024));
  return /<svg[\s>]/i.test(head);
}

/** An SVG rasterised by the browser, like an <img> shows it (256 px on its short side when it has no size). */
async function rasteriseSvg(bytes) {
  if (typeof Image === 'undefined') throw codedError('SVG images can only be read on a page, not in a worker', ERROR_CODES.unsupportedFormat);
  const url = URL.createObjectURL(new Blob([bytes], { type: 'image/svg+xml' }));
  try {
    const image = new Image();
    image.src = url;
    await image.decode().catch(() => { throw codedError('the SVG image could not be drawn', ERROR_CODES.notAnImage); });
    const size = image.naturalWidth && image.naturalHeight ? null : { width: PRESCALED_SIDE, height: PRESCALED_SIDE };
    return pixelsOf(image, size);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * RGBA pixels of any image argument. `call(method, args)` asks the runtime (`imageSize`, `decode`).
 */
export async function readPixels(image, call) {
  if (!isEncoded(image)) return pixelsOf(image);
  const bytes = await bytesOf(image);
  let size;
  try {
    size = await call('imageSize', { bytes }); // the header only, EXIF orientation applied
  } catch (error) {
    if (isSvg(bytes)) return rasteriseSvg(bytes);
    if (error.code === ERROR_CODES.unsupportedFormat) return decodeByBrowser(bytes, error);
    throw error;
  }
  const browserDecodes = typeof createImageBitmap === 'function' && Math.min(size.width, size.height) >= BROWSER_DECODE_SHORT_SIDE;
  const decoded = browserDecodes ? await decodeLarge(bytes, size) : null;
  if (decoded) return decoded;
  // Decode in Rust: the same decoder, orientation and resize rule as the CLI.
  return call('decode', { bytes }); // rgba is a Uint8Array
}
